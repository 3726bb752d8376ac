//! Safe search: the engines' own switches, by DNS. Each major engine publishes a name that
//! serves only its safe results; a PC whose group enforces safe search gets the engine's
//! name answered as a CNAME to that name (how Google, Bing, DuckDuckGo and YouTube document
//! network-wide enforcement).
//!
//! Owns: the engines' safe names. Must not: know which PCs want them (the policy says).

/// Google's country domains people actually land on (google.<tld>), besides google.com.
const GOOGLE_TLDS: &[&str] = &[
    "com", "ad", "ae", "al", "am", "as", "at", "az", "ba", "be", "bg", "by", "ca", "ch", "cl",
    "cn", "co.id", "co.il", "co.in", "co.jp", "co.kr", "co.nz", "co.th", "co.uk", "co.za",
    "com.ar", "com.au", "com.br", "com.co", "com.eg", "com.hk", "com.mx", "com.my", "com.ng",
    "com.pe", "com.ph", "com.pk", "com.sa", "com.sg", "com.tr", "com.tw", "com.ua", "com.vn", "cz",
    "de", "dk", "ee", "es", "fi", "fr", "gr", "hr", "hu", "ie", "is", "it", "kz", "lt", "lu", "lv",
    "md", "mk", "nl", "no", "pl", "pt", "ro", "rs", "ru", "se", "si", "sk",
];

/// The safe endpoint `name` (lower case, no trailing dot) must be answered with, if any.
pub fn target(name: &str) -> Option<&'static str> {
    match name {
        "www.youtube.com"
        | "m.youtube.com"
        | "youtubei.googleapis.com"
        | "youtube.googleapis.com"
        | "www.youtube-nocookie.com" => {
            return Some("restrict.youtube.com");
        }
        "bing.com" | "www.bing.com" => return Some("strict.bing.com"),
        "duckduckgo.com"
        | "www.duckduckgo.com"
        | "start.duckduckgo.com"
        | "html.duckduckgo.com" => return Some("safe.duckduckgo.com"),
        _ => {}
    }
    let rest = name.strip_prefix("www.").unwrap_or(name);
    let tld = rest.strip_prefix("google.")?;
    GOOGLE_TLDS
        .contains(&tld)
        .then_some("forcesafesearch.google.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_map_to_their_safe_names() {
        assert_eq!(target("www.google.com"), Some("forcesafesearch.google.com"));
        assert_eq!(target("google.de"), Some("forcesafesearch.google.com"));
        assert_eq!(
            target("www.google.co.uk"),
            Some("forcesafesearch.google.com")
        );
        assert_eq!(target("www.youtube.com"), Some("restrict.youtube.com"));
        assert_eq!(target("www.bing.com"), Some("strict.bing.com"));
        assert_eq!(target("duckduckgo.com"), Some("safe.duckduckgo.com"));
        assert_eq!(target("mail.google.com"), None);
        assert_eq!(target("google.example"), None);
        assert_eq!(target("news.example"), None);
    }
}
