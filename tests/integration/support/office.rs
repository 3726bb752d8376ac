//! The office lab with Officegate running on its gateway: the lab's namespaces, the daemon
//! and its pin directory, all torn down on drop.

use std::path::Path;

use officegate_lab::{
    Lab, LabConfig,
    officegate::{
        EXAMPLE_GROUPS, EXAMPLE_PC_GROUPS, Officegate, lab_config, lab_policy, pin_dir_for,
    },
};

use super::pins::PinDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_officegate");

/// A device's counters as `officegate pcs --json` prints them, in the datapath's order.
pub const COUNTERS: [&str; 6] = [
    "up_packets",
    "up_bytes",
    "down_packets",
    "down_bytes",
    "dropped_packets",
    "dropped_bytes",
];

/// The lab, the daemon on its gateway and the daemon's bpffs pins; dropping it stops the
/// daemon, removes the pins and takes the lab down.
pub struct Office {
    pub lab: Lab,
    pub og: Officegate,
    pub _pins: PinDir,
}

/// pc1 is staff, pc2 in the default group, pc3 a guest.
pub fn office() -> Office {
    office_with(|_, config| config)
}

/// The same office, its daemon configuration rewritten by `edit` first.
pub fn office_with(edit: impl Fn(&Lab, String) -> String) -> Office {
    let lab = Lab::up(LabConfig { pcs: 3 }).expect("lab up");
    let pins = PinDir(pin_dir_for(&lab));
    let config = edit(&lab, lab_config(&pins.0));
    let policy = lab_policy(&lab, EXAMPLE_GROUPS, EXAMPLE_PC_GROUPS);
    let og = Officegate::start(&lab, Path::new(BIN), &config, &policy).expect("officegate start");
    Office {
        lab,
        og,
        _pins: pins,
    }
}

/// The daemon on `lab` with `groups` as its policy (pc1 in `staff`) and `args` given to it,
/// without the `Office` wrapper: for tests that set up the lab themselves.
pub fn start(lab: &Lab, pins: &PinDir, groups: &str, args: &[&str]) -> Officegate {
    let policy = lab_policy(lab, groups, &[(1, "staff")]);
    Officegate::start_with(lab, Path::new(BIN), &lab_config(&pins.0), &policy, args)
        .expect("officegate start")
}
