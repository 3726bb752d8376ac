//! Any bytes as a list file: never panics; every name it yields is already normalised
//! (normalising it again changes nothing) and matches itself in the compiled set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officegate::lists::{Rule, compile, normalize, parse_list};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut names = Vec::new();
    let stats = parse_list(&text, |_, _, rule| {
        if let Rule::Name(n) = rule {
            names.push(n);
        }
    });
    assert!(stats.errors.len() <= stats.rejected);
    let compiled = compile(&text);
    for n in &names {
        assert_eq!(normalize(n).as_deref(), Ok(n.as_str()), "not idempotent");
        assert!(compiled.block.matches(n) || compiled.allow.matches(n), "{n} lost");
    }
});
