//! Generalization: value hierarchies in ARX's CSV format (one row per
//! value: `value;level 1;level 2;…;*`), and built-in generalizers for dates
//! (month, year), ages (bands from a birth date), codes (keep a prefix) and
//! addresses (Chinese province or municipality, US state).

use crate::dict::dict;
use chrono::{Datelike, NaiveDate};
use std::collections::HashMap;

/// A value hierarchy.
#[derive(Debug, Clone, Default)]
pub struct Hierarchy {
    levels: usize,
    map: HashMap<String, Vec<String>>,
}

/// Why a hierarchy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HierarchyError {
    /// Rows of different lengths.
    #[error("line {line}: {got} levels, the first row has {want}")]
    Ragged {
        /// 1-based line.
        line: usize,
        /// Columns here.
        got: usize,
        /// Columns of the first row.
        want: usize,
    },
    /// A value listed twice.
    #[error("line {line}: value {value:?} is listed twice")]
    Duplicate {
        /// 1-based line.
        line: usize,
        /// The value.
        value: String,
    },
    /// Nothing in it.
    #[error("the hierarchy is empty")]
    Empty,
}

impl Hierarchy {
    /// Parse ARX's hierarchy CSV (`;`-separated; `,` is accepted too).
    pub fn from_arx_csv(text: &str) -> Result<Hierarchy, HierarchyError> {
        let mut h = Hierarchy::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let sep = if line.contains(';') { ';' } else { ',' };
            let cells: Vec<String> = line.split(sep).map(|c| c.trim().to_owned()).collect();
            if h.levels == 0 {
                h.levels = cells.len();
            } else if cells.len() != h.levels {
                return Err(HierarchyError::Ragged {
                    line: i + 1,
                    got: cells.len(),
                    want: h.levels,
                });
            }
            let value = cells[0].clone();
            if h.map.insert(value.clone(), cells).is_some() {
                return Err(HierarchyError::Duplicate { line: i + 1, value });
            }
        }
        if h.map.is_empty() {
            return Err(HierarchyError::Empty);
        }
        Ok(h)
    }

    /// Levels (the original value is level 0).
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// `v` at `level` (`*` for values the hierarchy does not list, and
    /// above its top level).
    pub fn generalize(&self, v: &str, level: usize) -> String {
        match self.map.get(v) {
            Some(row) => row.get(level).cloned().unwrap_or_else(|| "*".into()),
            None => "*".into(),
        }
    }
}

/// A built-in generalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// A date to `YYYY`.
    Year,
    /// A date to `YYYY-MM`.
    Month,
    /// A birth date to an age band of this width (`30-39`).
    AgeBand(u32),
    /// Keep the first N characters, star the rest (postcodes, ID regions).
    Prefix(usize),
    /// A Chinese address to its province or municipality; a US address
    /// to its state.
    Province,
}

impl Builtin {
    /// Parse `year`, `month`, `age_band:10`, `prefix:3`, `province`.
    pub fn parse(s: &str) -> Option<Builtin> {
        let (name, arg) = s.split_once(':').map(|(a, b)| (a, Some(b))).unwrap_or((s, None));
        match (name, arg) {
            ("year", None) => Some(Builtin::Year),
            ("month", None) => Some(Builtin::Month),
            ("age_band", Some(w)) => w.parse().ok().filter(|w| *w > 0).map(Builtin::AgeBand),
            ("prefix", Some(n)) => n.parse().ok().map(Builtin::Prefix),
            ("province", None) => Some(Builtin::Province),
            _ => None,
        }
    }

    /// Generalize `v` (as of `today`, for ages).
    pub fn apply(self, v: &str, today: NaiveDate) -> String {
        let date = || NaiveDate::parse_from_str(v, "%Y-%m-%d").ok();
        match self {
            Builtin::Year => date().map(|d| d.year().to_string()).unwrap_or_else(|| "*".into()),
            Builtin::Month => date()
                .map(|d| d.format("%Y-%m").to_string())
                .unwrap_or_else(|| "*".into()),
            Builtin::AgeBand(w) => date()
                .map(|d| {
                    let age = custodia_core::consent::age_on(d, today);
                    let lo = age / w * w;
                    format!("{lo}-{}", lo + w - 1)
                })
                .unwrap_or_else(|| "*".into()),
            Builtin::Prefix(n) => {
                let len = v.chars().count();
                v.chars()
                    .take(n)
                    .chain(std::iter::repeat_n('*', len.saturating_sub(n)))
                    .collect()
            }
            Builtin::Province => {
                let d = dict();
                // The longest province name the address starts with.
                d.automaton
                    .find_iter(v)
                    .filter(|m| m.start() == 0 && d.kinds[m.pattern().as_usize()] == crate::dict::Word::CnPlace)
                    .map(|m| v[..m.end()].to_owned())
                    .next()
                    .filter(|p| p.ends_with('省') || p.ends_with('市') || p.ends_with("区") || p.chars().count() == 2)
                    .or_else(|| us_state(v))
                    .unwrap_or_else(|| "*".into())
            }
        }
    }
}

/// The state of a US address written "…, City, ST 12345[, USA]".
fn us_state(v: &str) -> Option<String> {
    v.split(',').map(str::trim).find_map(|part| {
        let (st, zip) = part.split_once(' ')?;
        let zip = zip.trim();
        (st.len() == 2
            && st.bytes().all(|b| b.is_ascii_uppercase())
            && (zip.len() == 5 || zip.len() == 10)
            && zip.bytes().take(5).all(|b| b.is_ascii_digit()))
        .then(|| format!("{st}, USA"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arx_hierarchies() {
        let h = Hierarchy::from_arx_csv("47677;4767*;476**;47***;*\n47678;4767*;476**;47***;*\n").unwrap();
        assert_eq!(h.levels(), 5);
        assert_eq!(h.generalize("47677", 0), "47677");
        assert_eq!(h.generalize("47678", 2), "476**");
        assert_eq!(h.generalize("99999", 1), "*");
        assert_eq!(h.generalize("47677", 9), "*");
        assert!(matches!(
            Hierarchy::from_arx_csv("a;b\nc"),
            Err(HierarchyError::Ragged { line: 2, .. })
        ));
        assert!(matches!(
            Hierarchy::from_arx_csv("a;b\na;c"),
            Err(HierarchyError::Duplicate { line: 2, .. })
        ));
        assert_eq!(Hierarchy::from_arx_csv("\n").unwrap_err(), HierarchyError::Empty);
    }

    #[test]
    fn builtins() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let cases = [
            ("year", "1985-03-02", "1985"),
            ("month", "1985-03-02", "1985-03"),
            ("age_band:10", "1985-03-02", "40-49"),
            ("age_band:5", "2000-12-01", "25-29"),
            ("prefix:3", "100080", "100***"),
            ("prefix:6", "11010519491231002X", "110105************"),
            ("province", "广东省深圳市南山区科技园路1号", "广东省"),
            ("province", "北京市朝阳区建国路88号", "北京市"),
            ("province", "1600 Amphitheatre Parkway", "*"),
            ("province", "12 Main St, Springfield, IL 62701, USA", "IL, USA"),
            ("province", "5 Elm Rd, Austin, TX 78701-1234", "TX, USA"),
            ("year", "not a date", "*"),
        ];
        for (b, v, want) in cases {
            assert_eq!(Builtin::parse(b).unwrap().apply(v, today), want, "{b} {v}");
        }
        assert_eq!(Builtin::parse("age_band:0"), None);
        assert_eq!(Builtin::parse("decade"), None);
    }
}
