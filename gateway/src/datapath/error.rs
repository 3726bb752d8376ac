use std::path::PathBuf;

/// Everything that can go wrong between the daemon and the kernel datapath.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error(
        "interface `{name}` does not exist in this network namespace (`officegate init` writes settings for this machine's interfaces)"
    )]
    NoSuchInterface { name: String },

    #[error("bpffs is not mounted at {path} (mount -t bpf bpf /sys/fs/bpf)")]
    NoBpffs { path: PathBuf },

    #[error("cannot create pin directory {path}")]
    PinDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the kernel refused to load the datapath programs: {source}")]
    Load {
        #[source]
        source: aya::EbpfError,
    },

    #[error("the kernel refused program `{program}`: {source}{}", verifier_log(.source))]
    Program {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },

    #[error("cannot attach `{program}` to interface `{interface}`: {source}")]
    Attach {
        program: &'static str,
        interface: String,
        #[source]
        source: aya::programs::ProgramError,
    },

    #[error("the link of `{program}` on interface `{interface}`: {why}")]
    Link {
        program: &'static str,
        interface: String,
        why: String,
    },

    #[error(
        "pinned map `{name}` cannot be opened (is the datapath loaded with this pin directory?)"
    )]
    OpenMap {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },

    #[error("map `{name}`: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },

    #[error("flow table `{name}`: {why}")]
    FlowTable { name: &'static str, why: String },

    #[error("no randomness for the flow tables' hash: {0}")]
    Random(String),

    #[error("group id {id} is out of range (at most {max} groups)")]
    GroupOutOfRange { id: u32, max: u32 },

    #[error("no free counter slot for configured PCs (at most {max})")]
    NoFreeSlot { max: u32 },

    #[error("cannot read the number of CPUs: {0}")]
    Cpus(String),

    #[error("cannot set up the reset program's slot: {0}")]
    Reset(String),
}

/// The verifier's log, when the kernel gave one: the only way to know why it refused.
fn verifier_log(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError { verifier_log, .. } => {
            format!("\nverifier log:\n{verifier_log}")
        }
        _ => String::new(),
    }
}
