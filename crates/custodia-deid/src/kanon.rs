//! k-anonymity, l-diversity and re-identification risk over quasi-identifiers.
//!
//! Records with the same (generalized) quasi-identifier values form an
//! equivalence class. A release is k-anonymous when every class has at
//! least k records, and (distinct) l-diverse when every class holds at
//! least l different sensitive values. Classes that fail are suppressed.
//! Under the prosecutor model (the attacker knows their target is in the
//! release) a record's risk is 1 / the size of its class.

use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Class sizes and sensitive values, filled record by record.
#[derive(Debug, Default, Clone)]
pub struct Classes {
    map: HashMap<Vec<String>, (usize, HashSet<String>)>,
    rows: usize,
}

/// What a release reveals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Risk {
    /// Records in the input.
    pub records: usize,
    /// Records released.
    pub released: usize,
    /// Records suppressed (in classes smaller than k, or less diverse than l).
    pub suppressed: usize,
    /// Equivalence classes released.
    pub classes: usize,
    /// The smallest released class (the k achieved; 0 when nothing is released).
    pub k: usize,
    /// The fewest distinct sensitive values in a released class (when a sensitive attribute is named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l: Option<usize>,
    /// Highest prosecutor risk of a released record (1 / k).
    pub max_risk: f64,
    /// Average prosecutor risk over released records (classes / released).
    pub avg_risk: f64,
}

impl Classes {
    /// Count one record.
    pub fn add(&mut self, qi: Vec<String>, sensitive: Option<&str>) {
        let e = self.map.entry(qi).or_default();
        e.0 += 1;
        if let Some(s) = sensitive {
            e.1.insert(s.to_owned());
        }
        self.rows += 1;
    }

    /// Whether a record with these values is released under `k` and `l`.
    pub fn keep(&self, qi: &[String], k: usize, l: Option<usize>) -> bool {
        self.map
            .get(qi)
            .is_some_and(|(n, s)| *n >= k && l.is_none_or(|l| s.len() >= l))
    }

    /// The release's figures under `k` and `l`.
    pub fn risk(&self, k: usize, l: Option<usize>) -> Risk {
        let mut released = 0;
        let mut classes = 0;
        let mut min_k = usize::MAX;
        let mut min_l = usize::MAX;
        for (n, s) in self.map.values() {
            if *n >= k && l.is_none_or(|l| s.len() >= l) {
                released += n;
                classes += 1;
                min_k = min_k.min(*n);
                min_l = min_l.min(s.len());
            }
        }
        Risk {
            records: self.rows,
            released,
            suppressed: self.rows - released,
            classes,
            k: if classes == 0 { 0 } else { min_k },
            l: l.map(|_| if classes == 0 { 0 } else { min_l }),
            max_risk: if classes == 0 { 0.0 } else { 1.0 / min_k as f64 },
            avg_risk: if released == 0 {
                0.0
            } else {
                classes as f64 / released as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(a: &str, b: &str) -> Vec<String> {
        vec![a.into(), b.into()]
    }

    #[test]
    fn a_small_table() {
        let mut c = Classes::default();
        for (q, s) in [
            (row("30-39", "100***"), "flu"),
            (row("30-39", "100***"), "cold"),
            (row("30-39", "100***"), "flu"),
            (row("40-49", "200***"), "flu"),
            (row("40-49", "200***"), "flu"),
            (row("50-59", "300***"), "hiv"),
        ] {
            c.add(q, Some(s));
        }
        let r = c.risk(2, None);
        assert_eq!((r.records, r.released, r.suppressed, r.classes, r.k), (6, 5, 1, 2, 2));
        assert!((r.max_risk - 0.5).abs() < 1e-9 && (r.avg_risk - 0.4).abs() < 1e-9);
        let r = c.risk(2, Some(2));
        assert_eq!(
            (r.released, r.suppressed, r.l),
            (3, 3, Some(2)),
            "the 40-49 class has one disease"
        );
        assert!(c.keep(&row("30-39", "100***"), 3, Some(2)));
        assert!(!c.keep(&row("40-49", "200***"), 2, Some(2)));
        assert_eq!(Classes::default().risk(5, None).k, 0);
    }

    proptest! {
        /// Cross-check against an independent, quadratic computation.
        #[test]
        fn matches_a_naive_count(rows in proptest::collection::vec((0u8..4, 0u8..3, 0u8..3), 0..60), k in 1usize..5, l in proptest::option::of(1usize..3)) {
            let mut c = Classes::default();
            for (a, b, s) in &rows {
                c.add(row(&a.to_string(), &b.to_string()), Some(&s.to_string()));
            }
            let r = c.risk(k, l);
            // Naive: a record is released if enough records share its QIs and enough sensitive values appear among them.
            let released: Vec<usize> = (0..rows.len())
                .filter(|&i| {
                    let same: Vec<&(u8, u8, u8)> = rows.iter().filter(|x| x.0 == rows[i].0 && x.1 == rows[i].1).collect();
                    let distinct: std::collections::BTreeSet<u8> = same.iter().map(|x| x.2).collect();
                    same.len() >= k && l.is_none_or(|l| distinct.len() >= l)
                })
                .collect();
            prop_assert_eq!(r.released, released.len());
            prop_assert_eq!(r.suppressed, rows.len() - released.len());
            let sizes: Vec<usize> = released.iter().map(|&i| rows.iter().filter(|x| x.0 == rows[i].0 && x.1 == rows[i].1).count()).collect();
            prop_assert_eq!(r.k, sizes.iter().copied().min().unwrap_or(0));
            let avg = if sizes.is_empty() { 0.0 } else { sizes.iter().map(|s| 1.0 / *s as f64).sum::<f64>() / sizes.len() as f64 };
            prop_assert!((r.avg_risk - avg).abs() < 1e-9, "{} vs {}", r.avg_risk, avg);
        }
    }
}
