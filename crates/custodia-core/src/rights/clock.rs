//! Statutory clocks for data-subject requests, as cited data: when a
//! request must be acknowledged, answered, and how far it can be extended.
//!
//! Clocks run from receipt: under the CCPA verification does not pause them
//! (11 CCR §7021(b)); Custodia applies the same conservative reading to the
//! GDPR and PIPL.

use super::calendar::{CalendarId, Calendars};
use super::RequestKind;
use crate::consent::Regime;
use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

/// What a rule sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Confirm receipt.
    Acknowledge,
    /// Answer (complete or deny).
    Respond,
    /// How much an extension adds to the answer deadline.
    Extend,
    /// By when the person must be told of an extension.
    ExtensionNotice,
}

/// A length of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "n")]
pub enum Period {
    /// Calendar days.
    Days(u32),
    /// Working days of the rule's calendar.
    WorkingDays(u32),
    /// Calendar months (same day number, or the month's last day).
    Months(u32),
    /// The configured PIPL answer period, in calendar days.
    PiplConfigured,
}

/// Which requests a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    /// Every kind.
    All,
    /// Opt-outs of sale or sharing (objections).
    OptOut,
    /// Every kind but opt-outs.
    NotOptOut,
}

impl Applies {
    fn covers(self, k: RequestKind) -> bool {
        match self {
            Applies::All => true,
            Applies::OptOut => k == RequestKind::Objection,
            Applies::NotOptOut => k != RequestKind::Objection,
        }
    }
}

/// One clock rule.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClockRule {
    /// Stable id.
    pub id: &'static str,
    /// The law.
    pub regime: Regime,
    /// Which requests.
    pub applies: Applies,
    /// What it sets.
    pub step: Step,
    /// How long.
    pub period: Period,
    /// Working-day calendar (for working days, and for rolling a deadline
    /// that falls on a day off).
    pub calendar: CalendarId,
    /// Whether a deadline on a day off moves to the next working day.
    pub roll_forward: bool,
    /// Citation.
    pub citation: &'static str,
    /// In English.
    pub text_en: &'static str,
    /// In Chinese.
    pub text_zh: &'static str,
}

/// The rules.
pub const RULES: &[ClockRule] = &[
    ClockRule {
        id: "gdpr-12-3-respond",
        regime: Regime::Gdpr,
        applies: Applies::All,
        step: Step::Respond,
        period: Period::Months(1),
        calendar: CalendarId::Weekdays,
        roll_forward: true,
        citation: "GDPR Art. 12(3); Reg. (EEC, Euratom) 1182/71 Art. 3(4)",
        text_en: "answer without undue delay and at the latest within one month of receipt",
        text_zh: "应在收到请求后一个月内答复",
    },
    ClockRule {
        id: "gdpr-12-3-extend",
        regime: Regime::Gdpr,
        applies: Applies::All,
        step: Step::Extend,
        period: Period::Months(2),
        calendar: CalendarId::Weekdays,
        roll_forward: true,
        citation: "GDPR Art. 12(3)",
        text_en: "may be extended by two further months where necessary, given the complexity and number of requests",
        text_zh: "必要时可再延长两个月",
    },
    ClockRule {
        id: "gdpr-12-3-notice",
        regime: Regime::Gdpr,
        applies: Applies::All,
        step: Step::ExtensionNotice,
        period: Period::Months(1),
        calendar: CalendarId::Weekdays,
        roll_forward: true,
        citation: "GDPR Art. 12(3)",
        text_en: "the person must be told of an extension, with the reasons, within one month of receipt",
        text_zh: "延长的，应在收到请求后一个月内告知理由",
    },
    ClockRule {
        id: "ccpa-7021a-acknowledge",
        regime: Regime::Ccpa,
        applies: Applies::NotOptOut,
        step: Step::Acknowledge,
        period: Period::WorkingDays(10),
        calendar: CalendarId::UsBusiness,
        roll_forward: false,
        citation: "11 CCR §7021(a)",
        text_en: "confirm receipt within 10 business days",
        text_zh: "应在10个工作日内确认收到请求",
    },
    ClockRule {
        id: "ccpa-7021b-respond",
        regime: Regime::Ccpa,
        applies: Applies::NotOptOut,
        step: Step::Respond,
        period: Period::Days(45),
        calendar: CalendarId::UsBusiness,
        roll_forward: false,
        citation: "11 CCR §7021(b)",
        text_en: "respond within 45 calendar days of receipt, whatever the time taken to verify",
        text_zh: "应在收到请求后45个日历日内答复，核验身份所需时间不中止计算",
    },
    ClockRule {
        id: "ccpa-7021b-extend",
        regime: Regime::Ccpa,
        applies: Applies::NotOptOut,
        step: Step::Extend,
        period: Period::Days(45),
        calendar: CalendarId::UsBusiness,
        roll_forward: false,
        citation: "11 CCR §7021(b)",
        text_en: "one extension of up to 45 more calendar days (90 in total)",
        text_zh: "可延长一次，最多再延长45个日历日（共90日）",
    },
    ClockRule {
        id: "ccpa-7021b-notice",
        regime: Regime::Ccpa,
        applies: Applies::NotOptOut,
        step: Step::ExtensionNotice,
        period: Period::Days(45),
        calendar: CalendarId::UsBusiness,
        roll_forward: false,
        citation: "11 CCR §7021(b)",
        text_en: "notice of the extension and its reason within the first 45 days",
        text_zh: "应在最初45日内告知延长及其理由",
    },
    ClockRule {
        id: "ccpa-7026f-optout",
        regime: Regime::Ccpa,
        applies: Applies::OptOut,
        step: Step::Respond,
        period: Period::WorkingDays(15),
        calendar: CalendarId::UsBusiness,
        roll_forward: false,
        citation: "11 CCR §7026(f)",
        text_en: "comply with a request to opt out of sale or sharing within 15 business days",
        text_zh: "应在15个工作日内执行拒绝出售或共享的请求",
    },
    ClockRule {
        id: "pipl-50-respond",
        regime: Regime::Pipl,
        applies: Applies::All,
        step: Step::Respond,
        period: Period::PiplConfigured,
        calendar: CalendarId::CnWorking,
        roll_forward: true,
        citation: "PIPL Art. 50; GB/T 35273-2020 §8.7",
        text_en: "handle promptly; answer within 30 days (configurable) of receipt",
        text_zh: "应及时受理并处理，在收到请求后30天内（可配置）答复",
    },
];

/// Settings of the clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockConfig {
    /// Days to answer a PIPL request (GB/T 35273-2020 §8.7: 30).
    pub pipl_days: u32,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig { pipl_days: 30 }
    }
}

/// The deadlines of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// Confirm receipt by (when the law requires it).
    pub acknowledge_by: Option<NaiveDate>,
    /// Answer by (including an extension, when taken).
    pub respond_by: NaiveDate,
    /// Answer by without extension.
    pub original_respond_by: NaiveDate,
    /// Whether the law allows an extension, and by when it must be announced.
    pub extension_notice_by: Option<NaiveDate>,
    /// The rules applied.
    pub rules: Vec<&'static str>,
    /// Their citations.
    pub citations: Vec<&'static str>,
}

fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    // chrono clamps to the last day of the month (31 Jan + 1 month = 28/29 Feb).
    d.checked_add_months(Months::new(n)).expect("dates stay in range")
}

fn apply(rule: &ClockRule, from: NaiveDate, cfg: ClockConfig, cals: &Calendars) -> NaiveDate {
    let cal = cals.get(rule.calendar);
    let raw = match rule.period {
        Period::Days(n) => from + Days::new(n as u64),
        Period::WorkingDays(n) => cal.add_working_days(from, n),
        Period::Months(n) => add_months(from, n),
        Period::PiplConfigured => from + Days::new(cfg.pipl_days as u64),
    };
    if rule.roll_forward {
        cal.roll_forward(raw)
    } else {
        raw
    }
}

/// The deadlines of a `kind` request under `regime` received on `received`.
pub fn schedule(
    regime: Regime,
    kind: RequestKind,
    received: NaiveDate,
    extended: bool,
    cfg: ClockConfig,
    cals: &Calendars,
) -> Schedule {
    let rules: Vec<&ClockRule> = RULES
        .iter()
        .filter(|r| r.regime == regime && r.applies.covers(kind))
        .collect();
    let find = |s: Step| rules.iter().find(|r| r.step == s);
    let respond = find(Step::Respond).expect("every regime has an answer rule");
    let original = apply(respond, received, cfg, cals);
    let acknowledge_by = find(Step::Acknowledge).map(|r| apply(r, received, cfg, cals));
    let extension_notice_by = find(Step::ExtensionNotice).map(|r| apply(r, received, cfg, cals));
    let respond_by = match (extended, find(Step::Extend)) {
        (true, Some(ext)) => {
            // Extensions run from the original deadline (computed without rolling, then rolled).
            let unrolled = ClockRule {
                roll_forward: false,
                ..**respond
            };
            apply(ext, apply(&unrolled, received, cfg, cals), cfg, cals)
        }
        _ => original,
    };
    let applied: Vec<&ClockRule> = rules
        .iter()
        .copied()
        .filter(|r| extended || r.step != Step::Extend)
        .collect();
    Schedule {
        acknowledge_by,
        respond_by,
        original_respond_by: original,
        extension_notice_by,
        rules: applied.iter().map(|r| r.id).collect(),
        citations: applied.iter().map(|r| r.citation).collect(),
    }
}

/// Whether the law lets a `kind` request under `regime` be extended.
pub fn extendable(regime: Regime, kind: RequestKind) -> bool {
    RULES
        .iter()
        .any(|r| r.regime == regime && r.applies.covers(kind) && r.step == Step::Extend)
}

/// Days from `today` to `due` (negative: overdue).
pub fn days_left(today: NaiveDate, due: NaiveDate) -> i64 {
    (due - today).num_days()
}

/// Whether `d` is the last day of its month (for month arithmetic tests).
pub fn is_month_end(d: NaiveDate) -> bool {
    (d + Days::new(1)).day() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn deadlines_known_answers() {
        let cals = Calendars::bundled();
        let cfg = ClockConfig::default();
        use RequestKind::*;
        // (regime, kind, received, extended, acknowledge_by, respond_by)
        type Row<'a> = (Regime, RequestKind, &'a str, bool, Option<&'a str>, &'a str, &'a str);
        let table: Vec<Row> = vec![
            (
                Regime::Gdpr,
                Access,
                "2026-05-05",
                false,
                None,
                "2026-06-05",
                "one month",
            ),
            (
                Regime::Gdpr,
                Access,
                "2026-01-31",
                false,
                None,
                "2026-03-02",
                "31 Jan + 1 month = 28 Feb, a Saturday: next working day",
            ),
            (
                Regime::Gdpr,
                Erasure,
                "2026-04-04",
                false,
                None,
                "2026-05-04",
                "one month, a Monday",
            ),
            (
                Regime::Gdpr,
                Erasure,
                "2026-05-05",
                true,
                None,
                "2026-08-05",
                "one plus two months",
            ),
            (
                Regime::Ccpa,
                Access,
                "2026-11-20",
                false,
                Some("2026-12-07"),
                "2027-01-04",
                "10 business days (Thanksgiving), 45 calendar days",
            ),
            (
                Regime::Ccpa,
                Access,
                "2026-11-20",
                true,
                Some("2026-12-07"),
                "2027-02-18",
                "90 calendar days",
            ),
            (
                Regime::Ccpa,
                Objection,
                "2026-11-20",
                false,
                None,
                "2026-12-14",
                "opt-out: 15 business days",
            ),
            (
                Regime::Pipl,
                Rectification,
                "2026-09-01",
                false,
                None,
                "2026-10-08",
                "30 days lands in National Day week: next working day",
            ),
            (
                Regime::Pipl,
                Access,
                "2026-11-01",
                false,
                None,
                "2026-12-01",
                "30 days, a Tuesday",
            ),
        ];
        for (regime, kind, received, ext, ack, respond, why) in table {
            let s = schedule(regime, kind, d(received), ext, cfg, &cals);
            assert_eq!(s.acknowledge_by.map(|x| x.to_string()), ack.map(str::to_owned), "{why}");
            assert_eq!(s.respond_by.to_string(), respond, "{why}");
            assert!(!s.citations.is_empty(), "{why}");
        }
    }

    #[test]
    fn extensions_per_regime() {
        assert!(extendable(Regime::Gdpr, RequestKind::Erasure));
        assert!(extendable(Regime::Ccpa, RequestKind::Access));
        assert!(
            !extendable(Regime::Ccpa, RequestKind::Objection),
            "opt-outs cannot be extended"
        );
        assert!(!extendable(Regime::Pipl, RequestKind::Access));
        let cals = Calendars::bundled();
        let s = schedule(
            Regime::Gdpr,
            RequestKind::Access,
            d("2026-05-05"),
            false,
            ClockConfig::default(),
            &cals,
        );
        assert_eq!(s.extension_notice_by, Some(d("2026-06-05")));
        let s = schedule(
            Regime::Pipl,
            RequestKind::Access,
            d("2026-11-01"),
            false,
            ClockConfig { pipl_days: 15 },
            &cals,
        );
        assert_eq!(s.respond_by, d("2026-11-16"));
    }

    #[test]
    fn every_rule_is_cited_in_both_languages_and_each_regime_answers() {
        let mut ids = std::collections::BTreeSet::new();
        for r in RULES {
            assert!(ids.insert(r.id), "{}", r.id);
            assert!(!r.citation.is_empty() && !r.text_en.is_empty(), "{}", r.id);
            assert!(r.text_zh.chars().any(|c| c as u32 > 0x3000), "{}", r.id);
        }
        for regime in [Regime::Pipl, Regime::Gdpr, Regime::Ccpa] {
            for kind in RequestKind::ALL {
                assert!(
                    RULES
                        .iter()
                        .any(|r| r.regime == regime && r.applies.covers(kind) && r.step == Step::Respond),
                    "{regime:?} {kind:?}"
                );
            }
        }
        assert!(is_month_end(d("2026-02-28")) && !is_month_end(d("2026-02-27")));
    }
}
