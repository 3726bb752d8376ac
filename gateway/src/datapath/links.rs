//! Program links pinned beside the maps (`link_<program>_<interface>`): the programs stay
//! attached while the daemon is stopped, restarted or upgraded, so counting and
//! enforcement never pause, and the next start swaps its own programs into the same links
//! atomically (`bpf_link_update`: no packet meets no program). `officegate detach` removes
//! the pins, which detaches them.
//!
//! Needs bpf links for both hooks: XDP's (Linux 5.9) and TCX's (6.6). On an older kernel
//! XDP is attached as before, and detaches when the daemon exits. The TC programs on the
//! older hook (netlink `clsact` filters: kernels without TCX, or `[datapath] tc_hook =
//! "netlink"`) stay without a pin: a filter outlives its process, and the next start
//! replaces the program of the filter at the daemon's priority and handle.

use std::path::{Path, PathBuf};

use aya::{
    programs::{
        SchedClassifier, TcAttachType, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        tc::{
            NlOptions, SchedClassifierLink, TcAttachOptions, TcError, TcHandle, qdisc_add_clsact,
            qdisc_detach_program,
        },
        xdp::XdpLink,
    },
    util::KernelVersion,
};

use super::DatapathError;

/// Whether links can be pinned here (TCX needs 6.6; XDP links are older).
pub fn pinnable() -> bool {
    KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0))
}

/// Where `program`'s link on `interface` is pinned.
pub fn path(pin_dir: &Path, program: &str, interface: &str) -> PathBuf {
    // bpffs names: keep to letters, digits and `_` (interfaces may hold `.` or `-`).
    let iface: String = interface
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    pin_dir.join(format!("link_{program}_{iface}"))
}

/// The link pinned at `pin`, if one is.
fn adopt(pin: &Path) -> Option<FdLink> {
    PinnedLink::from_pin(pin).ok().map(FdLink::from)
}

fn link_err(program: &'static str, interface: &str, why: impl std::fmt::Display) -> DatapathError {
    DatapathError::Link {
        program,
        interface: interface.to_string(),
        why: why.to_string(),
    }
}

/// The error of attaching `program` to `interface`.
fn attach_err(
    program: &'static str,
    interface: &str,
) -> impl Fn(aya::programs::ProgramError) -> DatapathError {
    move |source| DatapathError::Attach {
        program,
        interface: interface.to_string(),
        source,
    }
}

/// Attaches `xdp` (`program`) to `interface`: swapped into the link pinned at `pin` (its
/// mode stays), else attached in the first of `modes` the driver takes and pinned there.
pub fn attach_xdp(
    xdp: &mut Xdp,
    program: &'static str,
    interface: &str,
    modes: &[XdpMode],
    pin: &Path,
) -> Result<bool, DatapathError> {
    let attach_err = attach_err(program, interface);
    let (id, adopted) = match adopt(pin) {
        Some(fd) => {
            let link = XdpLink::try_from(fd).map_err(|e| link_err(program, interface, e))?;
            (xdp.attach_to_link(link).map_err(&attach_err)?, true)
        }
        None => (first_mode(xdp, program, interface, modes)?, false),
    };
    let link = xdp.take_link(id).map_err(&attach_err)?;
    let fd = FdLink::try_from(link).map_err(|e| link_err(program, interface, e))?;
    if !adopted {
        fd.pin(pin).map_err(|e| link_err(program, interface, e))?;
    }
    Ok(adopted)
}

/// `attach_xdp` where links cannot be pinned: attached in the first of `modes` the driver
/// takes, detached when the program is dropped.
pub fn attach_xdp_unpinned(
    xdp: &mut Xdp,
    program: &'static str,
    interface: &str,
    modes: &[XdpMode],
) -> Result<(), DatapathError> {
    first_mode(xdp, program, interface, modes).map(drop)
}

/// Attaches in the first of `modes` the driver takes; falling back to the kernel's
/// generic path is said, it is slower.
fn first_mode(
    xdp: &mut Xdp,
    program: &'static str,
    interface: &str,
    modes: &[XdpMode],
) -> Result<aya::programs::xdp::XdpLinkId, DatapathError> {
    let attach_err = attach_err(program, interface);
    let mut result = Err(link_err(program, interface, "no XDP mode given"));
    for (i, mode) in modes.iter().enumerate() {
        result = xdp.attach(interface, *mode).map_err(&attach_err);
        if let Err(e) = &result {
            tracing::debug!(interface, ?mode, "XDP mode refused: {e}");
            continue;
        }
        if i > 0 {
            tracing::warn!(
                interface,
                ?mode,
                "the driver has no native XDP: attached in the kernel's generic path (slower; `xdp_mode = \"generic\"` says it is meant)"
            );
        }
        break;
    }
    result
}

/// `attach_xdp` for a TC (TCX) program on `side` of `interface`.
pub fn attach_tc(
    tc: &mut SchedClassifier,
    program: &'static str,
    interface: &str,
    side: TcAttachType,
    pin: &Path,
) -> Result<bool, DatapathError> {
    let attach_err = attach_err(program, interface);
    let (id, adopted) = match adopt(pin) {
        Some(fd) => {
            let link =
                SchedClassifierLink::try_from(fd).map_err(|e| link_err(program, interface, e))?;
            (tc.attach_to_link(link).map_err(&attach_err)?, true)
        }
        None => (tc.attach(interface, side).map_err(&attach_err)?, false),
    };
    let link = tc.take_link(id).map_err(&attach_err)?;
    let fd = FdLink::try_from(link).map_err(|e| link_err(program, interface, e))?;
    if !adopted {
        fd.pin(pin).map_err(|e| link_err(program, interface, e))?;
    }
    Ok(adopted)
}

/// The priority and handle of the daemon's filters on the older TC hook (netlink
/// `clsact`): fixed, so a new start finds the filters a previous run left and replaces
/// their programs in place.
const NL_PRIORITY: u16 = 0x4f47;
const NL_HANDLE: TcHandle = TcHandle::new(0, 1);

/// `attach_tc` on the older TC hook, for kernels without TCX or a setting that asks for
/// it: a `clsact` filter, which no file can pin but which outlives its process by itself.
/// The program in a filter a previous run left is replaced in place; a new filter is
/// left attached when the daemon exits, like a pinned link (`officegate detach`
/// removes it). Returns whether it took over a filter.
pub fn attach_tc_netlink(
    tc: &mut SchedClassifier,
    program: &'static str,
    interface: &str,
    side: TcAttachType,
) -> Result<bool, DatapathError> {
    let attach_err = attach_err(program, interface);
    // The qdisc is shared with whatever else uses TC here: only created when missing.
    if let Err(e) = qdisc_add_clsact(interface)
        && !matches!(&e, TcError::NetlinkError(n) if n.raw_os_error() == Some(nix::libc::EEXIST))
    {
        return Err(link_err(
            program,
            interface,
            format!("adding the clsact qdisc: {e}"),
        ));
    }
    let earlier = SchedClassifierLink::attached(interface, side, NL_PRIORITY, NL_HANDLE, None)
        .map_err(|e| link_err(program, interface, e))?;
    let (id, adopted) = match tc.attach_to_link(earlier) {
        Ok(id) => (id, true),
        Err(_) => {
            let options = TcAttachOptions::Netlink(NlOptions {
                priority: NL_PRIORITY,
                handle: NL_HANDLE,
                classid: None,
            });
            (
                tc.attach_with_options(interface, side, options)
                    .map_err(&attach_err)?,
                false,
            )
        }
    };
    // Dropping the link would delete the filter: it is let go of instead, so the filter
    // stays when the daemon exits.
    std::mem::forget(tc.take_link(id).map_err(&attach_err)?);
    Ok(adopted)
}

/// Removes the daemon's filters on the older TC hook from every interface; how many
/// (interface, side, program) had one.
pub fn detach_netlink(programs: &[&str]) -> usize {
    let Ok(interfaces) = nix::net::if_::if_nameindex() else {
        return 0;
    };
    let mut n = 0;
    for i in interfaces.iter() {
        let name = i.name().to_string_lossy();
        for side in [TcAttachType::Ingress, TcAttachType::Egress] {
            for program in programs {
                // An error is "none here" (NotFound), or an interface without clsact.
                n += usize::from(qdisc_detach_program(&name, side, program).is_ok());
            }
        }
    }
    n
}

/// Removes every pinned link in `pin_dir`, detaching its program. Returns how many.
pub fn detach_all(pin_dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(pin_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("link_") {
            std::fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}
