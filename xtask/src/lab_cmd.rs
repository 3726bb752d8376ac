//! `cargo xtask lab up|down|status`: a persistent office lab to poke at by hand. Everything is
//! done by `officegate_lab`; this only parses arguments and prints.

use std::fmt::Write as _;

use anyhow::Result;
use officegate_lab::{Lab, LabConfig, Role, addr};

#[derive(Debug, clap::Subcommand)]
pub enum LabCmd {
    /// Build a lab and leave it running (namespaces, resolver, web, DoT/DoH, iperf3).
    Up {
        /// Number of PCs on the switch.
        #[arg(long, default_value_t = 3)]
        pcs: usize,
    },
    /// Tear down a persisted lab by prefix (og-<pid>-<n>), or every persisted lab.
    Down { prefix: Option<String> },
    /// List persisted labs and live lab namespaces.
    Status,
}

pub fn run(cmd: LabCmd) -> Result<()> {
    match cmd {
        LabCmd::Up { pcs } => up(pcs),
        LabCmd::Down { prefix: Some(p) } => {
            Lab::down(&p)?;
            println!("lab {p} is down");
            Ok(())
        }
        LabCmd::Down { prefix: None } => {
            let all = Lab::persisted()?;
            if all.is_empty() {
                println!("no persisted lab");
            }
            for p in all {
                Lab::down(&p)?;
                println!("lab {p} is down");
            }
            Ok(())
        }
        LabCmd::Status => {
            print!("{}", Lab::status()?);
            Ok(())
        }
    }
}

fn up(pcs: usize) -> Result<()> {
    let lab = Lab::up(LabConfig { pcs })?;
    // Printed only after `persist`: a failed print (closed pipe) must not unwind through a
    // live `Lab` and tear it down.
    let text = summary(&lab)?;
    let prefix = lab.prefix().to_string();
    let state = lab.persist()?;
    print!("{text}");
    println!(
        "\nstate: {}\ntear down: cargo xtask lab down {prefix}",
        state.display()
    );
    Ok(())
}

fn summary(lab: &Lab) -> Result<String, std::fmt::Error> {
    let mut o = String::new();
    let pcs = lab.pcs();
    let ns = |r: Role| lab.ns(r);
    let pc1 = ns(Role::Pc(1));
    let ca = lab.ca_cert();
    let ca = ca.display();
    writeln!(
        o,
        "lab {} is up ({pcs} PCs); configs and logs in {}",
        lab.prefix(),
        lab.dir().display()
    )?;
    writeln!(o, "\nnamespaces:")?;
    writeln!(
        o,
        "  switch    {:<22} {} bridge",
        ns(Role::Switch),
        addr::SWITCH_BRIDGE
    )?;
    writeln!(
        o,
        "  gateway   {:<22} {} {}/24 {}/64; {} {} (primary, default route); {} {} (backup); NAT on both",
        ns(Role::Gateway),
        addr::LAN_IF,
        addr::GW_LAN_V4,
        addr::GW_LAN_V6,
        addr::WAN_PRIMARY_IF,
        addr::GW_WAN_PRIMARY_V4,
        addr::WAN_BACKUP_IF,
        addr::GW_WAN_BACKUP_V4
    )?;
    for i in 1..=pcs {
        writeln!(
            o,
            "  pc{i:<7} {:<22} {} {} {} {}  iperf3 port {}",
            ns(Role::Pc(i)),
            addr::PC_IF,
            addr::pc_v4(i),
            addr::pc_v6(i),
            addr::mac_string(addr::pc_mac(i)),
            addr::iperf_port(i)
        )?;
    }
    writeln!(
        o,
        "  isp1      {:<22} {} <-> {}",
        ns(Role::IspPrimary),
        addr::ISP1_DOWN_V4,
        addr::ISP1_UP_V4
    )?;
    writeln!(
        o,
        "  isp2      {:<22} {} <-> {}",
        ns(Role::IspBackup),
        addr::ISP2_DOWN_V4,
        addr::ISP2_UP_V4
    )?;
    writeln!(o, "  internet  {:<22} services below", ns(Role::Internet))?;
    writeln!(o, "\nservices (internet):")?;
    writeln!(
        o,
        "  resolver       {} / {} (every other name -> {})",
        addr::RESOLVER_V4,
        addr::RESOLVER_V6,
        addr::CATCH_ALL_V4
    )?;
    for s in addr::SITES {
        writeln!(
            o,
            "  {:<14} {} / {}  http+https: /, /health, /1m.bin, /10m.bin",
            s.name, s.v4, s.v6
        )?;
    }
    writeln!(
        o,
        "  DoT/DoH        {} / {} ({}): port 853, https://{}{}",
        addr::DOH_V4,
        addr::DOH_V6,
        addr::DOH_NAME,
        addr::DOH_NAME,
        addr::DOH_PATH
    )?;
    writeln!(
        o,
        "  iperf3         {} / {} ports {}..={}",
        addr::IPERF_V4,
        addr::IPERF_V6,
        addr::iperf_port(1),
        addr::iperf_port(pcs)
    )?;
    writeln!(o, "  lab CA         {ca}")?;
    writeln!(
        o,
        "\ntry (PCs resolve names through the gateway, 10.10.0.1: start Officegate there first):"
    )?;
    writeln!(o, "  ip netns exec {pc1} curl http://news.example/")?;
    writeln!(
        o,
        "  ip netns exec {pc1} curl --cacert {ca} https://news.example/"
    )?;
    writeln!(
        o,
        "  ip netns exec {pc1} dig @{} ads.doubleclick.net",
        addr::RESOLVER_V4
    )?;
    writeln!(
        o,
        "  ip netns exec {pc1} iperf3 -c {} -p {}",
        addr::IPERF_V4,
        addr::iperf_port(1)
    )?;
    Ok(o)
}
