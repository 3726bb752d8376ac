//! Any bytes as `office.toml`: the loader returns a policy or errors, never panics, and
//! every error names a line inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.lines().count().max(1) + 1;
    match officegate::policy::load_text(std::path::Path::new("/nonexistent-fuzz-dir"), text) {
        Ok((policy, _)) => {
            // Evaluating whatever loaded must not panic either.
            let now = jiff_now();
            for pc in policy.pcs() {
                let _ = policy.evaluate_for(Some(pc), "a.example", now);
            }
            let _ = policy.datapath_plan(now, &[], &mut officegate::policy::PlanMemo::default(), &|_| false);
        }
        Err(errors) => {
            for e in errors {
                assert!(e.line <= lines, "line {} beyond the text ({lines}): {e}", e.line);
            }
        }
    }
});

fn jiff_now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_764_150_000).expect("a valid moment")
}
