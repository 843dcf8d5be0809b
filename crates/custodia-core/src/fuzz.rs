//! Fuzz harnesses on stable Rust: proptest feeds every reader of outside
//! text (the schema, policy, notice and holiday-calendar TOML) arbitrary
//! input and mutations of the shipped files; none may panic, and what
//! reads back must read the same again.
//!
//! `CUSTODIA_FUZZ_CASES` sets the cases per harness (512 by default, under
//! a second each here); `CUSTODIA_FUZZ_CASES=100000 cargo test -p
//! custodia-core fuzz_` is the longer run (see docs/TESTING.md).

use crate::notice::{Notice, DEFAULT_NOTICE_TOML};
use crate::policy::{Policy, DEFAULT_POLICY_TOML};
use crate::rights::calendar::Calendars;
use crate::schema::{Schema, DEFAULT_SCHEMA_TOML};
use proptest::prelude::*;

/// Cases per harness.
pub fn cases() -> u32 {
    std::env::var("CUSTODIA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// A mutation of `base`: some bytes replaced, cut, or repeated.
pub fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((0usize..base.len().max(1), any::<u8>()), 0..8),
        0usize..=base.len(),
        0usize..3,
    )
        .prop_map(move |(edits, cut, dup)| {
            let mut b = base.as_bytes().to_vec();
            for (at, byte) in edits {
                if at < b.len() {
                    b[at] = byte;
                }
            }
            b.truncate(cut.max(b.len() / 2));
            let tail = b.clone();
            for _ in 0..dup {
                b.extend_from_slice(&tail[tail.len() / 2..]);
            }
            String::from_utf8_lossy(&b).into_owned()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_schema_reader(text in prop_oneof![mutated(DEFAULT_SCHEMA_TOML), "\\PC{0,400}"]) {
        if let Ok(s) = Schema::from_toml(&text) {
            prop_assert!(Schema::from_toml(s.source()).is_ok());
        }
    }

    #[test]
    fn fuzz_policy_and_notice_readers(
        policy in prop_oneof![mutated(DEFAULT_POLICY_TOML), "\\PC{0,400}"],
        notice in prop_oneof![mutated(DEFAULT_NOTICE_TOML), "\\PC{0,400}"],
    ) {
        let schema = Schema::default_schema();
        let _ = Policy::from_toml(&policy, &schema);
        if let Ok(n) = Notice::from_toml(&notice, &schema) {
            // A notice that reads has consent texts for its purposes.
            for p in &n.purposes {
                let _ = n.consent_text(p.id.as_str(), &schema, crate::notice::Language::Zh);
            }
        }
    }

    #[test]
    fn fuzz_calendar_reader(text in prop_oneof![mutated(crate::rights::calendar::HOLIDAYS_TOML), "\\PC{0,300}"]) {
        let _ = Calendars::from_toml(&text);
    }
}
