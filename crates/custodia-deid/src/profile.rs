//! De-identification profiles: what happens to each field of an export,
//! which fields are quasi-identifiers, and the k (and l) a release must
//! reach. A field the profile does not name is dropped (fail closed).
//!
//! ```toml
//! k = 5
//! l = 2                                   # optional, needs `sensitive`
//! quasi_identifiers = ["birth_date", "address", "segment"]
//! sensitive = "segment"
//!
//! [fields]
//! name = "drop"
//! national_id = "tokenize"                # FF1, shape kept
//! mobile = { action = "mask", first = 3, last = 2 }   # "mask" alone: the schema's mask
//! email = "hash"
//! bank_card = "substitute"
//! birth_date = { action = "generalize", to = "age_band:10" }
//! address = { action = "generalize", to = "province" }
//! segment = "keep"
//! ```

use crate::hierarchy::{Builtin, Hierarchy};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest privacy budget a `perturb` rule may spend on one value
/// (ε above ~10 leaves the value recognisable).
pub const MAX_EPSILON: f64 = 10.0;

/// How to tokenize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// FF1: same shape, reversible with the key.
    Ff1,
    /// A random vault token (the vault keeps the value, sealed).
    VaultRandom,
    /// A deterministic vault token (same value, same token).
    VaultDeterministic,
}

/// How to generalize.
#[derive(Debug, Clone)]
pub enum Gen {
    /// A built-in generalizer.
    Builtin(Builtin),
    /// An ARX hierarchy file (path as given) at a level.
    Hierarchy {
        /// The file.
        path: String,
        /// The level.
        level: usize,
        /// The loaded hierarchy (filled in by the caller, who reads files).
        loaded: Option<Hierarchy>,
    },
}

/// What happens to one field.
#[derive(Debug, Clone)]
pub enum Rule {
    /// As is.
    Keep,
    /// Left out.
    Drop,
    /// `[REDACTED]`.
    Redact,
    /// Keyed hash.
    Hash,
    /// Keep the first and last characters; `None` for both: the field's
    /// own display mask (the schema's per-type default, e.g. `138****5678`).
    Mask {
        /// Kept at the start.
        first: Option<usize>,
        /// Kept at the end.
        last: Option<usize>,
    },
    /// A consistent realistic substitute of the field's type.
    Substitute,
    /// A token.
    Tokenize(TokenMode),
    /// A coarser value.
    Generalize(Gen),
    /// Laplace noise (numbers).
    Perturb {
        /// Privacy budget.
        epsilon: f64,
        /// Sensitivity of the value.
        sensitivity: f64,
    },
    /// Per-customer date shift.
    ShiftDates {
        /// Largest shift, days.
        max_days: u32,
    },
}

impl Rule {
    /// Whether the field appears in the output.
    pub fn emits(&self) -> bool {
        !matches!(self, Rule::Drop)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRule {
    Simple(String),
    Detailed(Detailed),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Detailed {
    action: String,
    #[serde(default)]
    first: Option<usize>,
    #[serde(default)]
    last: Option<usize>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    hierarchy: Option<String>,
    #[serde(default)]
    level: Option<usize>,
    #[serde(default)]
    epsilon: Option<f64>,
    #[serde(default)]
    sensitivity: Option<f64>,
    #[serde(default)]
    max_days: Option<u32>,
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    k: usize,
    #[serde(default)]
    l: Option<usize>,
    #[serde(default)]
    quasi_identifiers: Vec<String>,
    #[serde(default)]
    sensitive: Option<String>,
    fields: BTreeMap<String, RawRule>,
}

/// A checked profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Smallest class released.
    pub k: usize,
    /// Fewest distinct sensitive values per class.
    pub l: Option<usize>,
    /// Quasi-identifier fields (after their rules).
    pub quasi_identifiers: Vec<String>,
    /// The sensitive attribute (for l-diversity).
    pub sensitive: Option<String>,
    /// Field → rule (fields not listed are dropped).
    pub fields: BTreeMap<String, Rule>,
}

fn parse_rule(field: &str, r: RawRule) -> Result<Rule, String> {
    let d = match r {
        RawRule::Simple(s) => Detailed {
            action: s,
            first: None,
            last: None,
            to: None,
            hierarchy: None,
            level: None,
            epsilon: None,
            sensitivity: None,
            max_days: None,
            mode: None,
        },
        RawRule::Detailed(d) => d,
    };
    let need = |what: &str| format!("field {field}: action {} needs {what}", d.action);
    Ok(match d.action.as_str() {
        "keep" => Rule::Keep,
        "drop" => Rule::Drop,
        "redact" => Rule::Redact,
        "hash" => Rule::Hash,
        "mask" => match (d.first, d.last) {
            (None, None) => Rule::Mask { first: None, last: None },
            (f, l) => Rule::Mask {
                first: Some(f.unwrap_or(0)),
                last: Some(l.unwrap_or(0)),
            },
        },
        "substitute" => Rule::Substitute,
        "tokenize" => Rule::Tokenize(match d.mode.as_deref() {
            None | Some("ff1") => TokenMode::Ff1,
            Some("vault") | Some("vault_random") => TokenMode::VaultRandom,
            Some("vault_deterministic") => TokenMode::VaultDeterministic,
            Some(m) => return Err(format!("field {field}: unknown token mode {m:?} (ff1, vault_random, vault_deterministic)")),
        }),
        "generalize" => match (&d.to, &d.hierarchy) {
            (Some(t), None) => Rule::Generalize(Gen::Builtin(Builtin::parse(t).ok_or_else(|| {
                format!("field {field}: unknown generalization {t:?} (year, month, age_band:N, prefix:N, province)")
            })?)),
            (None, Some(h)) => Rule::Generalize(Gen::Hierarchy {
                path: h.clone(),
                level: match d.level.ok_or_else(|| need("level"))? {
                    // Level 0 of a hierarchy is the value itself.
                    0 => return Err(format!("field {field}: level 0 is the value itself; use keep, or a level from 1")),
                    l => l,
                },
                loaded: None,
            }),
            _ => return Err(need("either to = … or hierarchy = … (and level)")),
        },
        "perturb" => {
            let epsilon = d.epsilon.ok_or_else(|| need("epsilon"))?;
            // Noise of scale sensitivity/epsilon: a huge epsilon or no
            // sensitivity adds none, and the value leaves as it is.
            if !(epsilon > 0.0 && epsilon <= MAX_EPSILON) {
                return Err(format!(
                    "field {field}: epsilon must be above 0 and at most {MAX_EPSILON} (larger adds next to no noise; use keep if the value may leave as it is)"
                ));
            }
            let sensitivity = d.sensitivity.unwrap_or(1.0);
            if !(sensitivity.is_finite() && sensitivity > 0.0) {
                return Err(format!("field {field}: sensitivity must be a positive number"));
            }
            Rule::Perturb { epsilon, sensitivity }
        }
        "shift_dates" => Rule::ShiftDates {
            max_days: match d.max_days.ok_or_else(|| need("max_days"))? {
                0 => return Err(format!("field {field}: max_days 0 shifts nothing; use keep, or 1 or more")),
                n => n,
            },
        },
        other => {
            return Err(format!(
                "field {field}: unknown action {other:?} (keep, drop, redact, hash, mask, substitute, tokenize, generalize, perturb, shift_dates)"
            ))
        }
    })
}

impl Profile {
    /// Parse and check a profile.
    pub fn from_toml(text: &str) -> Result<Profile, Vec<String>> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| vec![e.message().to_owned()])?;
        let mut errors = Vec::new();
        let mut fields = BTreeMap::new();
        for (f, r) in raw.fields {
            match parse_rule(&f, r) {
                Ok(rule) => {
                    fields.insert(f, rule);
                }
                Err(e) => errors.push(e),
            }
        }
        if raw.k < 2 {
            errors.push("k must be at least 2".into());
        }
        for q in &raw.quasi_identifiers {
            match fields.get(q) {
                None | Some(Rule::Drop) => errors.push(format!(
                    "quasi-identifier {q} must be a field the profile keeps in some form"
                )),
                // A fresh token per record makes every class a singleton.
                Some(Rule::Tokenize(TokenMode::VaultRandom)) => errors.push(format!(
                    "quasi-identifier {q} cannot use random vault tokens (every record would stand alone); use mode = \"vault_deterministic\" or generalize it"
                )),
                _ => {}
            }
        }
        if raw.l.is_some() && raw.sensitive.is_none() {
            errors.push("l-diversity needs a sensitive attribute (sensitive = \"field\")".into());
        }
        if let Some(s) = &raw.sensitive {
            if !fields.get(s).is_some_and(Rule::emits) {
                errors.push(format!("sensitive attribute {s} must be a field the profile keeps"));
            }
            if raw.quasi_identifiers.contains(s) {
                errors.push(format!(
                    "{s} cannot be both a quasi-identifier and the sensitive attribute"
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Profile {
            k: raw.k,
            l: raw.l,
            quasi_identifiers: raw.quasi_identifiers,
            sensitive: raw.sensitive,
            fields,
        })
    }

    /// The fields written to the output, in name order.
    pub fn output_fields(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(_, r)| r.emits())
            .map(|(f, _)| f.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("CUSTODIA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
            failure_persistence: None,
            ..Default::default()
        })]

        /// Fuzz harness: the profile reader takes any text without panicking.
        #[test]
        fn fuzz_profile_reader(text in "(k = [0-9]{1,3}\n|l = [0-9]\n|quasi_identifiers = \\[\"[a-z_]{1,10}\"\\]\n|\\[fields\\]\n|[a-z_]{1,10} = \"[a-z_:0-9]{1,20}\"\n|[a-z_]{1,10} = \\{ action = \"[a-z_]{1,12}\", to = \"[a-z_:0-9]{1,12}\" \\}\n|\\PC{0,20}){0,12}") {
            let _ = Profile::from_toml(&text);
        }
    }

    const P: &str = r#"
k = 5
l = 2
quasi_identifiers = ["birth_date", "address"]
sensitive = "segment"

[fields]
name = "drop"
national_id = "tokenize"
mobile = { action = "mask", first = 3, last = 2 }
email = "hash"
bank_card = "substitute"
birth_date = { action = "generalize", to = "age_band:10" }
address = { action = "generalize", to = "province" }
segment = "keep"
"#;

    #[test]
    fn parses() {
        let p = Profile::from_toml(P).unwrap();
        assert_eq!(p.k, 5);
        assert!(matches!(
            p.fields["mobile"],
            Rule::Mask {
                first: Some(3),
                last: Some(2)
            }
        ));
        let q = Profile::from_toml(&P.replace("email = \"hash\"", "email = \"mask\"")).unwrap();
        assert!(matches!(
            q.fields["email"],
            Rule::Mask {
                first: None,
                last: None
            }
        ));
        assert!(matches!(p.fields["national_id"], Rule::Tokenize(TokenMode::Ff1)));
        assert_eq!(
            p.output_fields(),
            vec![
                "address",
                "bank_card",
                "birth_date",
                "email",
                "mobile",
                "national_id",
                "segment"
            ]
        );
    }

    #[test]
    fn refuses_with_every_reason() {
        let bad = P
            .replace("k = 5", "k = 1")
            .replace("\"hash\"", "\"shred\"")
            .replace("to = \"province\"", "to = \"planet\"")
            .replace("name = \"drop\"", "name = { action = \"perturb\" }");
        let errs = Profile::from_toml(&bad).unwrap_err();
        let all = errs.join("\n");
        for want in [
            "k must be at least 2",
            "unknown action \"shred\"",
            "unknown generalization \"planet\"",
            "needs epsilon",
            "quasi-identifier address",
        ] {
            assert!(all.contains(want), "{want}: {all}");
        }
        let errs = Profile::from_toml(&P.replace("sensitive = \"segment\"", "")).unwrap_err();
        assert!(errs[0].contains("sensitive attribute"), "{errs:?}");
        assert!(Profile::from_toml("k = 3\nfields = {}\nextra = 1").is_err());
        let errs = Profile::from_toml(&P.replace(
            "birth_date = { action = \"generalize\", to = \"age_band:10\" }",
            "birth_date = { action = \"tokenize\", mode = \"vault_random\" }",
        ))
        .unwrap_err();
        assert!(
            errs.iter().any(|e| e.contains("cannot use random vault tokens")),
            "{errs:?}"
        );
        // Parameters that would let the value out unchanged.
        for (rule, want) in [
            ("{ action = \"perturb\", epsilon = 1e9 }", "at most 10"),
            (
                "{ action = \"perturb\", epsilon = 1.0, sensitivity = 0.0 }",
                "sensitivity must be",
            ),
            ("{ action = \"shift_dates\", max_days = 0 }", "shifts nothing"),
            (
                "{ action = \"generalize\", hierarchy = \"h.csv\", level = 0 }",
                "level 0",
            ),
        ] {
            let errs = Profile::from_toml(&P.replace("email = \"hash\"", &format!("email = {rule}"))).unwrap_err();
            assert!(errs.iter().any(|e| e.contains(want)), "{rule}: {errs:?}");
        }
        let ok = P.replace(
            "segment = \"keep\"",
            "segment = { action = \"tokenize\", mode = \"vault_deterministic\" }",
        );
        assert!(Profile::from_toml(&ok).is_ok());
    }
}
