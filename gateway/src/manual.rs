//! The manual: the sections a manual page has beyond the options (files, signals, exit
//! status, environment, examples), shown by `officegate --help` and written with every
//! command's help as roff pages by `officegate man DIR` (clap_mangen) for the package's
//! `/usr/share/man/man8`. One text for both, so they never disagree.

use std::path::Path;

/// (section, [(term, text)]).
type Section = (&'static str, &'static [(&'static str, &'static str)]);

const MORE: &[Section] = &[
    (
        "FILES",
        &[
            (
                "/etc/officegate/officegate.toml",
                "The daemon's settings: [datapath], [dns], [wan], [api], [block_page], [storage], [devices], [names], [alerts].",
            ),
            (
                "/etc/officegate/office.toml",
                "The policy: PCs, groups, rules, schedules, limits. The lists it names sit beside it.",
            ),
            (
                "/var/lib/officegate/",
                "The database (officegate.db): statistics, query log, events, users, action history; downloaded lists.",
            ),
            (
                "/sys/fs/bpf/officegate/",
                "Pinned maps (counters survive restarts) and program links (the datapath stays attached while the daemon is down).",
            ),
        ],
    ),
    (
        "SIGNALS",
        &[
            (
                "SIGHUP",
                "officegate run reloads the policy and the settings (systemctl reload officegate).",
            ),
            (
                "SIGUSR1",
                "officegate run fails back to the best internet channel now ([wan] failback = \"manual\").",
            ),
            (
                "SIGTERM, SIGINT",
                "officegate run stops; the datapath stays attached and keeps counting and blocking.",
            ),
        ],
    ),
    (
        "EXIT STATUS",
        &[
            ("0", "Success."),
            (
                "1",
                "An error, said on standard error; a setting or policy error as file:line: message.",
            ),
        ],
    ),
    (
        "ENVIRONMENT",
        &[(
            "RUST_LOG",
            "The log filter (default: info), e.g. officegate=debug.",
        )],
    ),
    (
        "EXAMPLES",
        &[
            (
                "officegate init",
                "Propose settings for this machine, then write them.",
            ),
            (
                "officegate check /etc/officegate",
                "Check the policy and the settings before a reload.",
            ),
            (
                "officegate explain pc7 youtube.com",
                "Whether pc7 may reach youtube.com now, and by which rule.",
            ),
            (
                "officegate pcs",
                "Every device's traffic, from the kernel's counters.",
            ),
            (
                "officegate queries --verdict blocked",
                "The latest blocked DNS queries.",
            ),
            (
                "officegate user add anna --role manager --scope sales",
                "A manager who sees and manages the sales group.",
            ),
        ],
    ),
    (
        "SEE ALSO",
        &[(
            "systemctl(1), journalctl(1)",
            "README.md and ARCHITECTURE.md in /usr/share/doc/officegate.",
        )],
    ),
];

/// The sections as `--help` shows them after the options.
pub fn more_help() -> String {
    let mut out = String::new();
    for (title, items) in MORE {
        out.push_str(&format!("{title}:\n"));
        for (term, text) in *items {
            out.push_str(&format!("  {term}\n          {text}\n"));
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Writes `officegate.8` and one `officegate-<command>.8` per visible command into `dir`.
pub fn write(top: clap::Command, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    // The top page: clap_mangen's sections, then ours as real sections (clap_mangen
    // would flow `after_long_help` into one paragraph).
    let man = clap_mangen::Man::new(top.clone()).section("8");
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend(sections_roff().into_bytes());
    man.render_version_section(&mut out)?;
    std::fs::write(dir.join("officegate.8"), out)?;
    for sub in top.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("officegate-{}", sub.get_name());
        let mut out = Vec::new();
        clap_mangen::Man::new(sub.clone().name(name.clone()))
            .section("8")
            .render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.8")), out)?;
    }
    Ok(())
}

fn sections_roff() -> String {
    let mut r = roff::Roff::new();
    for (title, items) in MORE {
        r.control("SH", [*title]);
        for (term, text) in *items {
            r.control("TP", []);
            r.text([roff::bold(*term)]);
            r.text([roff::roman(*text)]);
        }
    }
    r.to_roff()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_section_is_in_the_help_and_in_the_page() {
        let help = super::more_help();
        let page = super::sections_roff();
        for (title, items) in super::MORE {
            assert!(help.contains(&format!("{title}:")), "{title}");
            assert!(
                page.contains(&format!(".SH {title}"))
                    || page.contains(&format!(".SH \"{title}\"")),
                "{page}"
            );
            for (term, _) in *items {
                assert!(help.contains(term), "{term}");
            }
        }
    }
}
