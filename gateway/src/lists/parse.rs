//! Line syntax of list files. One function reads one line in any of the formats below and
//! says what rules it holds; the format is recognised per line, so a list may even mix
//! them. Written by hand: the DNS subset of these formats is a few prefixes and one
//! domain check, and the crates that parse AdBlock filters (adblock-rust) target URL
//! filtering, with an engine and memory cost made for browsers.
//!
//! | format | example | rule |
//! |---|---|---|
//! | plain | `ads.example.com` | the name and its subdomains |
//! | hosts | `0.0.0.0 ads.example.com other.example` | each name and its subdomains |
//! | AdBlock | `\|\|ads.example.com^`, `@@\|\|good.example^` | name and subdomains; `@@` = exception |
//! | AdBlock pattern | `\|\|ads-*.example.*^` | a regex over the whole name |
//! | wildcard | `*.ads.example.com` | the name and its subdomains |
//! | regex | `/^ad[0-9]+\.example\.com$/` | a regex over the whole name |
//! | dnsmasq | `address=/ads.example.com/0.0.0.0`, `local=/x/`, `server=/x/` | name and subdomains |
//! | unbound | `local-zone: "ads.example.com." always_nxdomain` | name and subdomains |
//!
//! Comments (`#`, `!`, `[Adblock…]`) and blank lines are skipped; the loopback names of a
//! hosts file (`localhost`, …) are skipped too.

use std::net::IpAddr;

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A normalised name (lower case, ASCII/punycode, no trailing dot): it and its
    /// subdomains.
    Name(String),
    /// A regular expression matched against the whole normalised name.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("not a valid domain name: {0}")]
    InvalidName(String),
    #[error("unsupported AdBlock option `{0}` (only plain `||name^` rules apply to DNS)")]
    UnsupportedOption(String),
    #[error("not a DNS rule (URL path, cosmetic filter or unknown syntax)")]
    NotDnsRule,
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
}

/// Counts of one list file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListStats {
    /// Lines that gave at least one rule.
    pub accepted: usize,
    /// Lines that could not be read as a rule (each also in `errors`, up to a limit).
    pub rejected: usize,
    /// Rules (a hosts line may hold several names).
    pub rules: usize,
    /// (1-based line number, message) of the first rejected lines.
    pub errors: Vec<(usize, String)>,
}

/// At most this many rejected lines are kept with their message per file.
pub const MAX_REPORTED_ERRORS: usize = 50;

/// Reads every line of `text`, calling `sink(line_number, is_exception, rule)` for each rule.
pub fn parse_list(text: &str, mut sink: impl FnMut(usize, bool, Rule)) -> ListStats {
    let mut stats = ListStats::default();
    for (i, line) in text.lines().enumerate() {
        let mut n = 0;
        match parse_line(line, |allow, rule| {
            n += 1;
            sink(i + 1, allow, rule)
        }) {
            Ok(()) if n > 0 => {
                stats.accepted += 1;
                stats.rules += n;
            }
            Ok(()) => {}
            Err(e) => {
                stats.rejected += 1;
                if stats.errors.len() < MAX_REPORTED_ERRORS {
                    stats.errors.push((i + 1, e.to_string()));
                }
            }
        }
    }
    stats
}

/// Names a hosts file carries for the machine itself, not to block.
const HOSTS_SELF: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// Reads one line; calls `emit(is_exception, rule)` for each rule it holds.
pub fn parse_line(line: &str, mut emit: impl FnMut(bool, Rule)) -> Result<(), LineError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('!') || line.starts_with('[') {
        return Ok(());
    }
    // Inline comments of hosts/plain files: `0.0.0.0 ads.example # tracker`.
    let line = match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => line[..i].trim_end(),
        None => line,
    };
    if let Some(rest) = line.strip_prefix("@@") {
        return adblock(rest, true, &mut emit);
    }
    if line.starts_with("||") || line.starts_with('|') {
        return adblock(line, false, &mut emit);
    }
    if line.len() > 2 && line.starts_with('/') && line.ends_with('/') {
        let re = &line[1..line.len() - 1];
        regex::Regex::new(re).map_err(|e| LineError::InvalidRegex(e.to_string()))?;
        emit(false, Rule::Regex(re.to_string()));
        return Ok(());
    }
    if let Some(rest) = line.strip_prefix("local-zone:") {
        // unbound: local-zone: "name." type
        let name = rest
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches('"');
        emit(false, Rule::Name(normalize(name)?));
        return Ok(());
    }
    if line == "server:" {
        return Ok(()); // unbound clause header
    }
    for prefix in ["address=/", "local=/", "server=/"] {
        if let Some(rest) = line.strip_prefix(prefix) {
            // dnsmasq: address=/name/answer; several names may share one line: /a/b/answer
            let mut parts: Vec<&str> = rest.split('/').collect();
            parts.pop(); // the answer (or empty for local=)
            if parts.is_empty() {
                return Err(LineError::NotDnsRule);
            }
            for name in parts {
                emit(false, Rule::Name(normalize(name)?));
            }
            return Ok(());
        }
    }
    let mut fields = line.split_whitespace();
    let first = fields.next().unwrap_or("");
    if first.parse::<IpAddr>().is_ok() {
        // hosts: address name [name…]
        let names: Vec<&str> = fields.filter(|n| !HOSTS_SELF.contains(n)).collect();
        let mut rules = Vec::with_capacity(names.len());
        for n in names {
            rules.push(normalize(n)?);
        }
        for n in rules {
            emit(false, Rule::Name(n));
        }
        return Ok(());
    }
    if fields.next().is_some() {
        return Err(LineError::NotDnsRule);
    }
    let name = first.strip_prefix("*.").unwrap_or(first);
    if name.contains('*') {
        emit(false, Rule::Regex(glob_regex(name)));
        return Ok(());
    }
    emit(false, Rule::Name(normalize(name)?));
    Ok(())
}

/// `||name^`, `||name^$option`, `|name^`, `||pattern*^`.
fn adblock(rule: &str, allow: bool, emit: &mut impl FnMut(bool, Rule)) -> Result<(), LineError> {
    let (body, options) = match rule.split_once('$') {
        Some((b, o)) => (b, Some(o)),
        None => (rule, None),
    };
    if let Some(opt) = options {
        // `important` only raises priority in browsers; anything else narrows the rule to
        // clients or record types we would silently widen.
        if opt != "important" {
            return Err(LineError::UnsupportedOption(opt.to_string()));
        }
    }
    let body = body.trim_start_matches('|');
    let body = body.strip_suffix('^').unwrap_or(body);
    let body = body.strip_suffix('|').unwrap_or(body);
    if body.is_empty() || body.contains('/') || body.contains(':') || body.contains('^') {
        return Err(LineError::NotDnsRule);
    }
    if body.contains('*') {
        emit(allow, Rule::Regex(glob_regex(body)));
    } else {
        emit(allow, Rule::Name(normalize(body)?));
    }
    Ok(())
}

/// An AdBlock/wildcard pattern as a regex over the whole name, matching subdomains too.
fn glob_regex(pattern: &str) -> String {
    let parts: Vec<String> = pattern
        .to_ascii_lowercase()
        .split('*')
        .map(regex::escape)
        .collect();
    format!(r"(^|\.){}$", parts.join(".*"))
}

/// Lower case, no trailing dot, IDNA to ASCII, RFC 1035 lengths, no label starting or
/// ending with `-`; `_` allowed in labels (real lists carry `_dmarc`-style names).
pub fn normalize(name: &str) -> Result<String, LineError> {
    let trimmed = name.trim().trim_end_matches('.');
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(trimmed).map_err(|_| LineError::InvalidName(name.to_string()))?
    };
    let valid = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.parse::<IpAddr>().is_err()
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(ascii)
    } else {
        Err(LineError::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(line: &str) -> Result<Vec<(bool, Rule)>, LineError> {
        let mut out = Vec::new();
        parse_line(line, |a, r| out.push((a, r)))?;
        Ok(out)
    }

    fn name(n: &str) -> Vec<(bool, Rule)> {
        vec![(false, Rule::Name(n.to_string()))]
    }

    #[test]
    fn every_format_gives_the_same_rule() {
        for line in [
            "ads.example.com",
            "ADS.Example.COM.",
            "0.0.0.0 ads.example.com",
            "127.0.0.1\tads.example.com # tracker",
            "||ads.example.com^",
            "||ads.example.com^$important",
            "*.ads.example.com",
            "address=/ads.example.com/#",
            "address=/ads.example.com/0.0.0.0",
            "local=/ads.example.com/",
            "server=/ads.example.com/",
            "local-zone: \"ads.example.com.\" always_nxdomain",
        ] {
            assert_eq!(rules(line).unwrap(), name("ads.example.com"), "{line}");
        }
    }

    #[test]
    fn comments_and_hosts_self_names_are_skipped() {
        for line in [
            "",
            "   ",
            "# c",
            "! c",
            "[Adblock Plus 2.0]",
            "server:",
            "127.0.0.1 localhost",
            "::1 ip6-localhost ip6-loopback",
            "0.0.0.0 0.0.0.0",
        ] {
            assert_eq!(rules(line).unwrap(), vec![], "{line:?}");
        }
    }

    #[test]
    fn hosts_lines_with_several_names() {
        let r = rules("0.0.0.0 a.example b.example").unwrap();
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn exceptions_patterns_and_regexes() {
        assert_eq!(
            rules("@@||good.example^").unwrap(),
            vec![(true, Rule::Name("good.example".into()))]
        );
        let r = rules("@@||aax-*.amazon.*^").unwrap();
        assert!(r[0].0);
        let Rule::Regex(re) = &r[0].1 else { panic!() };
        let re = regex::Regex::new(re).unwrap();
        assert!(re.is_match("aax-eu.amazon.de") && re.is_match("x.aax-1.amazon.com"));
        assert!(!re.is_match("amazon.com"));
        assert_eq!(
            rules(r"/^ad[0-9]+\.example$/").unwrap(),
            vec![(false, Rule::Regex(r"^ad[0-9]+\.example$".into()))]
        );
        assert!(rules("/(unclosed/").is_err());
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for line in [
            "||example.com/path^",
            "example.com##.ad",
            "||x^$client=1.2.3.4",
            "bad name here",
            "-",
            "a..b",
            "0.0.0.0 bad_$name",
            "||^",
        ] {
            assert!(rules(line).is_err(), "{line}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(rules(&long).is_err());
    }

    #[test]
    fn idna_names_become_punycode() {
        assert_eq!(
            rules("bücher.example").unwrap(),
            name("xn--bcher-kva.example")
        );
    }

    #[test]
    fn stats_count_lines_and_name_errors() {
        let text =
            "# header\nads.example\n0.0.0.0 a.example b.example\nnot a rule\n||x.example/p^\n";
        let mut n = 0;
        let s = parse_list(text, |_, _, _| n += 1);
        assert_eq!((s.accepted, s.rejected, s.rules, n), (2, 2, 3, 3));
        assert_eq!(s.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![4, 5]);
    }
}
