//! Retention: from the notice's retention period of each purpose and the
//! facts about one customer, which purposes still justify keeping data, and
//! so which fields must be kept. Pure; the vault runs it over every record.
//!
//! * A purpose that does not collect (answering requests, incidents) never
//!   keeps data by itself.
//! * A purpose resting on another basis than consent applies to everyone;
//!   a consent purpose applies only to customers who gave it.
//! * The period runs from its event: collection (the record's creation),
//!   contract end, last activity (the recorded date, else collection), or
//!   withdrawal. An event that has not happened yet keeps the data.
//! * A withdrawn consent ends its purpose at the withdrawal (PIPL Art.
//!   47(1)3), unless the purpose counts its period from the withdrawal.

use crate::ids::{FieldName, Purpose};
use crate::notice::{Notice, PurposeNotice, Retention, RetentionStart};
use chrono::{Days, Months, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What is known about one customer.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// When the data was collected.
    pub collected: NaiveDate,
    /// When the contract ended, if it has.
    pub contract_end: Option<NaiveDate>,
    /// Last recorded activity.
    pub last_activity: Option<NaiveDate>,
    /// Latest consent answer per purpose: given, and when.
    pub consents: BTreeMap<Purpose, (bool, NaiveDate)>,
}

/// Where one purpose stands for the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PurposeStatus {
    /// It does not hold data for this customer.
    NotApplicable,
    /// It keeps data until this date (none: its starting event has not happened).
    Keeps {
        /// Last day, exclusive.
        until: Option<NaiveDate>,
    },
    /// Its period ended.
    Expired {
        /// The day it ended.
        since: NaiveDate,
    },
}

/// The decision for one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Per purpose of the notice.
    pub purposes: Vec<(Purpose, PurposeStatus)>,
    /// Fields some purpose still keeps.
    pub keep: BTreeSet<FieldName>,
}

impl Decision {
    /// Whether every purpose that held data has expired (and so nothing is kept).
    pub fn nothing_kept(&self) -> bool {
        self.keep.is_empty()
    }
}

/// `from` plus the retention period.
pub fn end_of(r: &Retention, from: NaiveDate) -> NaiveDate {
    from.checked_add_months(Months::new(r.years * 12 + r.months))
        .and_then(|d| d.checked_add_days(Days::new(r.days as u64)))
        .unwrap_or(NaiveDate::MAX)
}

fn status(p: &PurposeNotice, f: &Facts, today: NaiveDate) -> PurposeStatus {
    if !p.collects {
        return PurposeStatus::NotApplicable;
    }
    let consent = f.consents.get(&p.id);
    if p.basis.needs_consent() {
        match consent {
            None => return PurposeStatus::NotApplicable,
            Some((false, at)) if p.retention.from != RetentionStart::Withdrawal => {
                return PurposeStatus::Expired { since: *at };
            }
            _ => {}
        }
    }
    let start = match p.retention.from {
        RetentionStart::Collection => Some(f.collected),
        RetentionStart::ContractEnd => f.contract_end,
        RetentionStart::LastActivity => Some(f.last_activity.unwrap_or(f.collected)),
        RetentionStart::Withdrawal => match consent {
            Some((false, at)) => Some(*at),
            _ => None,
        },
    };
    match start {
        None => PurposeStatus::Keeps { until: None },
        Some(s) => {
            let end = end_of(&p.retention, s);
            if today >= end {
                PurposeStatus::Expired { since: end }
            } else {
                PurposeStatus::Keeps { until: Some(end) }
            }
        }
    }
}

/// Decide for one customer on `today`.
pub fn decide(notice: &Notice, f: &Facts, today: NaiveDate) -> Decision {
    let mut purposes = Vec::with_capacity(notice.purposes.len());
    let mut keep = BTreeSet::new();
    for p in &notice.purposes {
        let st = status(p, f, today);
        if matches!(st, PurposeStatus::Keeps { .. }) {
            keep.extend(p.fields.iter().cloned());
        }
        purposes.push((p.id.clone(), st));
    }
    Decision { purposes, keep }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    const N: &str = r#"
version = 1
effective = "2026-01-01"
title_en = "N"
title_zh = "政策"
body_en = "b"
body_zh = "正文"

[controller]
name = "X"

[[purposes]]
id = "contract_performance"
basis = "contract"
fields = ["name", "mobile"]
retention = { years = 3, from = "contract_end" }

[[purposes]]
id = "marketing"
basis = "consent"
fields = ["name", "email"]
retention = { months = 24, from = "last_activity" }

[[purposes]]
id = "risk_control"
basis = "consent"
fields = ["name", "national_id"]
retention = { days = 30, from = "withdrawal" }
necessity_en = "n"
necessity_zh = "必要"
impact = { en = "i", zh = "影响" }

[[purposes]]
id = "legal_obligation"
basis = "legal_obligation"
fields = ["name", "address"]
retention = { years = 1, from = "collection" }

[[purposes]]
id = "data_subject_request"
basis = "legal_obligation"
collects = false
fields = ["name", "email", "mobile", "address", "national_id"]
retention = { months = 24, from = "collection" }
necessity_en = "n"
necessity_zh = "必要"
impact = { en = "i", zh = "影响" }
"#;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn p(s: &str) -> Purpose {
        Purpose::new(s).unwrap()
    }

    fn keep(dec: &Decision) -> Vec<String> {
        dec.keep.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn decisions_table() {
        let n = Notice::from_toml(N, &Schema::default_schema()).unwrap();
        let base = Facts {
            collected: d("2024-01-10"),
            ..Default::default()
        };
        let with = |f: &dyn Fn(&mut Facts)| {
            let mut x = base.clone();
            f(&mut x);
            x
        };
        type Case<'a> = (&'a str, Facts, &'a str, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "contract running: everything of the contract and legal duty kept",
                base.clone(),
                "2024-06-01",
                vec!["address", "mobile", "name"],
            ),
            (
                "legal duty ended after a year, contract still running",
                base.clone(),
                "2025-01-10",
                vec!["mobile", "name"],
            ),
            (
                "contract ended 3 years ago: nothing kept",
                with(&|x| x.contract_end = Some(d("2022-01-01"))),
                "2025-01-10",
                vec![],
            ),
            (
                "contract ended 3 years minus a day ago",
                with(&|x| x.contract_end = Some(d("2022-01-11"))),
                "2025-01-10",
                vec!["mobile", "name"],
            ),
            (
                "marketing consent with recent activity keeps the email",
                with(&|x| {
                    x.contract_end = Some(d("2020-01-01"));
                    x.consents.insert(p("marketing"), (true, d("2024-01-10")));
                    x.last_activity = Some(d("2024-12-01"));
                }),
                "2025-06-01",
                vec!["email", "name"],
            ),
            (
                "marketing withdrawn: ends at once",
                with(&|x| {
                    x.contract_end = Some(d("2020-01-01"));
                    x.consents.insert(p("marketing"), (false, d("2025-05-01")));
                }),
                "2025-06-01",
                vec![],
            ),
            (
                "risk control kept 30 days after withdrawal",
                with(&|x| {
                    x.contract_end = Some(d("2020-01-01"));
                    x.consents.insert(p("risk_control"), (false, d("2025-05-20")));
                }),
                "2025-06-01",
                vec!["name", "national_id"],
            ),
            (
                "risk control while consent stands: the withdrawal has not happened",
                with(&|x| {
                    x.contract_end = Some(d("2020-01-01"));
                    x.consents.insert(p("risk_control"), (true, d("2020-05-20")));
                }),
                "2030-06-01",
                vec!["name", "national_id"],
            ),
        ];
        for (why, facts, today, want) in cases {
            let dec = decide(&n, &facts, d(today));
            assert_eq!(keep(&dec), want, "{why}: {:?}", dec.purposes);
            assert_eq!(dec.nothing_kept(), want.is_empty(), "{why}");
            let dsr = dec
                .purposes
                .iter()
                .find(|(x, _)| x.as_str() == "data_subject_request")
                .unwrap();
            assert_eq!(
                dsr.1,
                PurposeStatus::NotApplicable,
                "{why}: answering requests never keeps data"
            );
        }
    }

    #[test]
    fn periods_add_up() {
        let r = |years, months, days| Retention {
            years,
            months,
            days,
            from: RetentionStart::Collection,
        };
        assert_eq!(end_of(&r(1, 0, 0), d("2024-02-29")), d("2025-02-28"));
        assert_eq!(end_of(&r(0, 24, 0), d("2024-01-31")), d("2026-01-31"));
        assert_eq!(end_of(&r(0, 1, 1), d("2024-01-31")), d("2024-03-01"));
        assert_eq!(end_of(&r(0, 0, 30), d("2025-05-20")), d("2025-06-19"));
    }
}
