//! Program links pinned beside the maps (`link_<program>_<interface>`): the programs stay
//! attached while the daemon is stopped, restarted or upgraded, so counting and
//! enforcement never pause, and the next start swaps its own programs into the same links
//! atomically (`bpf_link_update`: no packet meets no program). `officegate detach` removes
//! the pins, which detaches them.
//!
//! Needs bpf links for both hooks: XDP's (Linux 5.9) and TCX's (6.6). On an older kernel
//! the programs are attached as before, and detach when the daemon exits.

use std::path::{Path, PathBuf};

use aya::{
    programs::{
        SchedClassifier, TcAttachType, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        tc::SchedClassifierLink,
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
        None => {
            let mut result = Err(link_err(program, interface, "no XDP mode given"));
            for mode in modes {
                result = xdp.attach(interface, *mode).map_err(&attach_err);
                if result.is_ok() {
                    break;
                }
            }
            (result?, false)
        }
    };
    let link = xdp.take_link(id).map_err(&attach_err)?;
    let fd = FdLink::try_from(link).map_err(|e| link_err(program, interface, e))?;
    if !adopted {
        fd.pin(pin).map_err(|e| link_err(program, interface, e))?;
    }
    Ok(adopted)
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
