//! Any bytes as the opening packet of a web connection (what a PC sends to ports 443/80)
//! and as a ring-buffer record: the parsers return a name or nothing, never panic, and a
//! name they return is a clean lower-case host name or an address.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((name, _)) = officegate::sites::server_name(data) {
        assert!(!name.is_empty() && name.len() <= 253, "{name:?}");
        assert!(
            name.parse::<std::net::IpAddr>().is_ok()
                || name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)),
            "{name:?}"
        );
        let _ = officegate::sites::registrable(&name);
    }
    let _ = officegate::sites::decode(data);
});
