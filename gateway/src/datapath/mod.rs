//! The kernel datapath seen from the daemon: loading and attaching the programs of
//! `gateway-ebpf`, and the typed handles on their pinned maps.
//!
//! Owns: program load/attach/detach, the pin directory, map reads and writes.
//! Must not: decide policy (which addresses to block, which PC is over quota) — callers
//! hand it the decisions as data.

mod error;
mod flowtab;
pub mod links;
mod maps;

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    programs::{SchedClassifier, TcAttachType, Xdp, XdpMode},
};
use gateway_common::programs;

pub use error::DatapathError;
pub use maps::{
    DeviceEntry, FlowEntry, Maps, PcEntry, Reclaimer, mac_text, most_specific, net_contains,
    parse_mac, v4_key,
};

/// The object `gateway/build.rs` built from `gateway-ebpf`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gateway"));

/// How XDP attaches to the LAN interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// In the driver (fastest; veth, most physical NICs).
    Native,
    /// In the kernel's generic path (works on any interface, slower).
    Generic,
    /// Native, falling back to generic if the driver refuses.
    Auto,
}

/// The hook the TC programs (the LAN's download side, the WAN counters) attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TcHook {
    /// TCX (Linux 6.6): bpf links, pinned beside the maps.
    Tcx,
    /// The older `clsact` qdisc filters, for kernels without TCX.
    Netlink,
    /// TCX where the kernel has it, else netlink.
    Auto,
}

impl TcHook {
    fn netlink(self) -> bool {
        match self {
            TcHook::Tcx => false,
            TcHook::Netlink => true,
            TcHook::Auto => !links::pinnable(),
        }
    }
}

pub struct LoadOptions {
    /// Where maps are pinned (a directory on bpffs). Maps already pinned there are reused:
    /// that is how counters survive a restart.
    pub pin_dir: PathBuf,
    /// Cache each flow's verdict (the normal mode). Off only to benchmark the full
    /// per-packet policy evaluation.
    pub flow_cache: bool,
}

pub struct Datapath {
    ebpf: Ebpf,
    pin_dir: PathBuf,
    attached: Vec<String>,
}

impl Datapath {
    /// Loads the programs and opens (or creates and pins) their maps. Nothing is attached.
    pub fn load(opts: &LoadOptions) -> Result<Self, DatapathError> {
        check_bpffs(&opts.pin_dir)?;
        std::fs::create_dir_all(&opts.pin_dir).map_err(|source| DatapathError::PinDir {
            path: opts.pin_dir.clone(),
            source,
        })?;
        for old in gateway_common::maps::RETIRED {
            let _ = std::fs::remove_file(opts.pin_dir.join(old));
        }
        let ncpus =
            aya::util::nr_cpus().map_err(|(_, e)| DatapathError::Cpus(e.to_string()))? as u32;
        let flow_cache: u8 = opts.flow_cache.into();
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&opts.pin_dir)
            .override_global("FLOW_CACHE", &flow_cache, true)
            // The flow tables hold one part per CPU (see `gateway_common::FlowSet`).
            .map_max_entries(
                gateway_common::maps::FLOWS_V4,
                (1 << gateway_common::capacity::FLOW_SET_BITS_V4) * ncpus,
            )
            .map_max_entries(
                gateway_common::maps::FLOWS_V6,
                (1 << gateway_common::capacity::FLOW_SET_BITS_V6) * ncpus,
            )
            .load(OBJECT)
            .map_err(|source| DatapathError::Load { source })?;
        let xdp: &mut Xdp = program(&mut ebpf, programs::LAN_INGRESS)?;
        load_program(programs::LAN_INGRESS, || xdp.load())?;
        load_reset(&mut ebpf)?;
        for name in [
            programs::LAN_EGRESS,
            programs::WAN_EGRESS,
            programs::WAN_INGRESS,
        ] {
            let tc: &mut SchedClassifier = program(&mut ebpf, name)?;
            load_program(name, || tc.load())?;
        }
        let dp = Self {
            ebpf,
            pin_dir: opts.pin_dir.clone(),
            attached: Vec::new(),
        };
        let mut maps = dp.maps()?;
        maps.ensure_flow_seed()?;
        // Only an empty queue is filled: the previous run's programs may still be attached.
        maps.refill_free_slots()?;
        maps.clear_page_flags()?;
        if maps.generation()? == 0 {
            maps.bump_generation()?;
        }
        Ok(dp)
    }

    /// Attaches XDP to the LAN interface's ingress and TC (`hook`) to its egress. With
    /// pinned links (`links`), into the links a previous run left (its programs swapped
    /// for these at once) and kept attached after the `Datapath` is dropped; else
    /// detached when it is. Returns whether it took over attached programs.
    pub fn attach_lan(
        &mut self,
        interface: &str,
        mode: AttachMode,
        hook: TcHook,
    ) -> Result<bool, DatapathError> {
        exists(interface)?;
        let xdp: &mut Xdp = program(&mut self.ebpf, programs::LAN_INGRESS)?;
        let modes: &[XdpMode] = match mode {
            AttachMode::Native => &[XdpMode::Driver],
            AttachMode::Generic => &[XdpMode::Skb],
            AttachMode::Auto => &[XdpMode::Driver, XdpMode::Skb],
        };
        let adopted = if links::pinnable() {
            let pin = links::path(&self.pin_dir, programs::LAN_INGRESS, interface);
            links::attach_xdp(xdp, programs::LAN_INGRESS, interface, modes, &pin)?
        } else {
            links::attach_xdp_unpinned(xdp, programs::LAN_INGRESS, interface, modes)?;
            false
        };
        let also = self.attach_tc(programs::LAN_EGRESS, interface, TcAttachType::Egress, hook)?;
        self.attached.push(interface.to_string());
        Ok(adopted && also)
    }

    /// Attaches the WAN counters (TC ingress and egress, `hook`) to a WAN interface. They
    /// only count, never drop.
    pub fn attach_wan(&mut self, interface: &str, hook: TcHook) -> Result<(), DatapathError> {
        exists(interface)?;
        for (name, side) in [
            (programs::WAN_EGRESS, TcAttachType::Egress),
            (programs::WAN_INGRESS, TcAttachType::Ingress),
        ] {
            self.attach_tc(name, interface, side, hook)?;
        }
        self.attached.push(interface.to_string());
        Ok(())
    }

    /// One TC program on one side of `interface`: on the older hook, in a filter left
    /// attached; with TCX, in a pinned link where links pin, else detached on drop.
    /// Returns whether it took over one a previous run left.
    fn attach_tc(
        &mut self,
        name: &'static str,
        interface: &str,
        side: TcAttachType,
        hook: TcHook,
    ) -> Result<bool, DatapathError> {
        let tc: &mut SchedClassifier = program(&mut self.ebpf, name)?;
        if hook.netlink() {
            return links::attach_tc_netlink(tc, name, interface, side);
        }
        if links::pinnable() {
            let pin = links::path(&self.pin_dir, name, interface);
            return links::attach_tc(tc, name, interface, side, &pin);
        }
        tc.attach(interface, side)
            .map_err(|source| DatapathError::Attach {
                program: name,
                interface: interface.to_string(),
                source,
            })?;
        Ok(false)
    }

    /// A fresh handle on the pinned maps.
    pub fn maps(&self) -> Result<Maps, DatapathError> {
        Maps::open(&self.pin_dir)
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// The XDP program, for BPF_PROG_TEST_RUN (tests and benchmarks).
    pub fn xdp(&self) -> &Xdp {
        self.ebpf
            .program(programs::LAN_INGRESS)
            .and_then(|p| p.try_into().ok())
            .expect("the object always holds the XDP program (checked at load)")
    }

    /// Loads the object's empty XDP program (the benchmark's floor; never attached).
    pub fn load_empty_program(&mut self) -> Result<(), DatapathError> {
        let p: &mut Xdp = program(&mut self.ebpf, programs::BENCH_EMPTY)?;
        load_program(programs::BENCH_EMPTY, || p.load())
    }

    /// The empty XDP program, for BPF_PROG_TEST_RUN after `load_empty_program`.
    pub fn empty_program(&self) -> &Xdp {
        self.ebpf
            .program(programs::BENCH_EMPTY)
            .and_then(|p| p.try_into().ok())
            .expect("the object always holds the empty program")
    }

    /// The TC program, for BPF_PROG_TEST_RUN.
    pub fn tc(&self) -> &SchedClassifier {
        self.ebpf
            .program(programs::LAN_EGRESS)
            .and_then(|p| p.try_into().ok())
            .expect("the object always holds the TC program (checked at load)")
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, DatapathError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let p = ebpf.program_mut(name).ok_or(DatapathError::Program {
        program: name,
        source: aya::programs::ProgramError::NotLoaded,
    })?;
    p.try_into().map_err(|source| DatapathError::Program {
        program: name,
        source,
    })
}

fn exists(interface: &str) -> Result<(), DatapathError> {
    match nix::net::if_::if_nametoindex(interface) {
        Ok(_) => Ok(()),
        Err(_) => Err(DatapathError::NoSuchInterface {
            name: interface.to_string(),
        }),
    }
}

/// Pins on a plain directory would fail later with a confusing EPERM; say it plainly.
fn check_bpffs(pin_dir: &Path) -> Result<(), DatapathError> {
    const BPF_FS_MAGIC: i64 = 0xcafe4a11;
    let mut p = pin_dir;
    // The pin directory may not exist yet: check its nearest existing ancestor.
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    match nix::sys::statfs::statfs(p) {
        Ok(s) if s.filesystem_type().0 == BPF_FS_MAGIC => Ok(()),
        _ => Err(DatapathError::NoBpffs {
            path: p.to_path_buf(),
        }),
    }
}

/// Removes the maps pinned under `dir` (and the directory): the counters are gone after
/// this. For tests and `lab down`, never called by the daemon.
pub fn remove_pins(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}

/// The addresses of an interface in this namespace (for "never block the gateway").
pub fn interface_addrs(interface: &str) -> Vec<IpAddr> {
    interface_nets(interface)
        .into_iter()
        .map(|(a, _)| a)
        .collect()
}

/// The addresses of an interface with their prefix lengths (its networks).
pub fn interface_nets(interface: &str) -> Vec<(IpAddr, u8)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let ip = |s: &nix::sys::socket::SockaddrStorage| -> Option<IpAddr> {
        if let Some(v4) = s.as_sockaddr_in() {
            Some(IpAddr::V4(v4.ip()))
        } else {
            s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        }
    };
    addrs
        .filter(|a| a.interface_name == interface)
        .filter_map(|a| {
            let addr = ip(a.address.as_ref()?)?;
            let prefix = match a.netmask.as_ref().and_then(ip) {
                Some(IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
                Some(IpAddr::V6(m)) => u128::from(m).count_ones() as u8,
                None if addr.is_ipv4() => 32,
                None => 128,
            };
            Some((addr, prefix))
        })
        .collect()
}

/// One PC of the policy as the datapath declares it (`Maps::declare_pc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPc {
    pub addrs: Vec<IpAddr>,
    pub macs: Vec<[u8; 6]>,
    pub group: u8,
    pub state: gateway_common::PcState,
}

/// What the datapath's sets must hold, as computed by the policy for a moment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// (address or range, prefix length) → mask of groups it is blocked for.
    pub blocked: std::collections::BTreeMap<(IpAddr, u8), u64>,
    /// PC address → (datapath group id, state).
    pub pcs: std::collections::BTreeMap<IpAddr, (u8, gateway_common::PcState)>,
    /// Each listed PC as one device: its addresses and MACs, group and state.
    pub devices: Vec<PlannedPc>,
    /// Mask of the groups that block QUIC (`group_bit` of the datapath group id).
    pub quic_blocked: u64,
    /// The datapath group of devices the policy does not list (`unknown_devices`).
    pub unknown_group: u8,
    /// Groups' `networks` with their datapath group ids: an unlisted device with an
    /// address in one is that group's (the most specific range).
    pub networks: Vec<((IpAddr, u8), u8)>,
}

impl Plan {
    /// The datapath group of an unlisted device with these addresses.
    pub fn unlisted_group(&self, addrs: &[IpAddr]) -> u8 {
        most_specific(self.networks.iter().copied(), addrs).unwrap_or(self.unknown_group)
    }
}

/// Loads one program into the kernel with the daemon's signals held back on this thread,
/// and again if the verifier still gave up. The verifier stops with EAGAIN when a signal
/// is pending for the loading thread (a SIGHUP while the daemon starts would otherwise
/// fail the start); held back, the signal goes to another thread or waits until the load
/// is done. libbpf retries such loads too; aya does not.
fn load_program(
    program: &'static str,
    mut load: impl FnMut() -> Result<(), aya::programs::ProgramError>,
) -> Result<(), DatapathError> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    const TRIES: usize = 5;
    let mut held = SigSet::empty();
    for s in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGCHLD,
    ] {
        held.add(s);
    }
    let mut before = SigSet::empty();
    let masked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&held), Some(&mut before)).is_ok();
    let mut result = load();
    for _ in 1..TRIES {
        match &result {
            Err(aya::programs::ProgramError::LoadError { io_error, .. })
                if io_error.raw_os_error() == Some(libc::EAGAIN) =>
            {
                result = load()
            }
            _ => break,
        }
    }
    if masked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None);
    }
    result.map_err(|source| DatapathError::Program { program, source })
}

/// Loads `og_lan_reset` and puts it in the slot `og_lan_ingress` tail-calls for a dropped
/// frame (fail fast: a blocked TCP connection gets a reset, not silence).
fn load_reset(ebpf: &mut Ebpf) -> Result<(), DatapathError> {
    let reset: &mut Xdp = program(ebpf, programs::LAN_RESET)?;
    load_program(programs::LAN_RESET, || reset.load())?;
    let fd = reset
        .fd()
        .map_err(|source| DatapathError::Program {
            program: programs::LAN_RESET,
            source,
        })?
        .try_clone()
        .map_err(|e| DatapathError::Reset(e.to_string()))?;
    let map = ebpf
        .map_mut(gateway_common::maps::RESET)
        .ok_or_else(|| DatapathError::Reset("the object has no reset map".into()))?;
    let mut slots =
        aya::maps::ProgramArray::try_from(map).map_err(|source| DatapathError::Map {
            name: gateway_common::maps::RESET,
            source,
        })?;
    slots.set(0, &fd, 0).map_err(|source| DatapathError::Map {
        name: gateway_common::maps::RESET,
        source,
    })
}
