//! Statutory clocks for data-subject requests, as cited data: when a
//! request must be acknowledged, answered, and how far it can be extended.
//!
//! Clocks run from receipt: under the CCPA verification does not pause them
//! (11 CCR §7021(b)); Custodia applies the same conservative reading to the
//! GDPR and PIPL. The receipt date is taken both in the company's time zone
//! and in the regime's ([`ZONES`]); the earlier deadline is kept. Where the
//! holiday data does not cover a year, a deadline is counted in calendar
//! days — never later than the law's — and flagged.

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
    /// The company's stated PIPL answer period ([`PiplPolicy`]).
    PiplConfigured,
}

impl Period {
    /// What people read ("15 working days").
    pub fn describe(&self) -> String {
        match self {
            Period::Days(n) => format!("{n} calendar days"),
            Period::WorkingDays(n) => format!("{n} working days"),
            Period::Months(n) => format!("{n} month{}", if *n == 1 { "" } else { "s" }),
            Period::PiplConfigured => {
                "the company's policy (default: the earlier of 15 working days and 30 calendar days)".into()
            }
        }
    }
}

/// Which requests a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    /// Every kind.
    All,
    /// Opt-outs of sale or sharing (objections).
    OptOut,
    /// Requests to limit the use of sensitive personal information.
    Limit,
    /// Every kind but opt-outs and requests to limit.
    NotOptOut,
}

impl Applies {
    fn covers(self, k: RequestKind) -> bool {
        match self {
            Applies::All => true,
            Applies::OptOut => k == RequestKind::Objection,
            Applies::Limit => k == RequestKind::LimitSensitive,
            Applies::NotOptOut => !matches!(k, RequestKind::Objection | RequestKind::LimitSensitive),
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
        citation: "Cal. Civ. Code §1798.130(a)(2)(A); 11 CCR §7021(b)",
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
        id: "ccpa-7027e-limit",
        regime: Regime::Ccpa,
        applies: Applies::Limit,
        step: Step::Respond,
        period: Period::WorkingDays(15),
        calendar: CalendarId::UsBusiness,
        roll_forward: false,
        citation: "Cal. Civ. Code §1798.121; 11 CCR §7027(e)",
        text_en: "comply with a request to limit the use of sensitive personal information within 15 business days; no verification",
        text_zh: "应在15个工作日内执行限制使用敏感个人信息的请求，无需核验身份",
    },
    ClockRule {
        id: "pipl-50-respond",
        regime: Regime::Pipl,
        applies: Applies::All,
        step: Step::Respond,
        period: Period::PiplConfigured,
        calendar: CalendarId::CnWorking,
        roll_forward: true,
        citation: "PIPL Art. 50 (no period set); GB/T 35273-2020 §8.7 (30 days, recommended); App违法违规收集使用个人信息行为认定方法 §6(3) (15 working days)",
        text_en: "PIPL requires a convenient mechanism and prompt handling but sets no period: the company's stated policy applies, by default the earlier of 15 working days and 30 calendar days",
        text_zh: "《个人信息保护法》要求建立便捷的受理和处理机制并及时处理，但未规定期限：适用公司公布的期限，默认取15个工作日与30个日历日中较早者",
    },
];

/// The company's stated period for answering PIPL requests: the earlier
/// of `working_days` (mainland working days) and `calendar_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiplPolicy {
    /// Working days (app enforcement: at most 15).
    pub working_days: u32,
    /// Calendar days (GB/T 35273-2020 §8.7: 30).
    pub calendar_days: u32,
}

impl Default for PiplPolicy {
    fn default() -> Self {
        PiplPolicy {
            working_days: 15,
            calendar_days: 30,
        }
    }
}

impl PiplPolicy {
    /// Refuse a policy no source supports: nothing above the enforcement
    /// practice (15 working days) or the standard (30 days), and no zero.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=15).contains(&self.working_days) {
            return Err(format!(
                "pipl.working_days = {}: must be 1 to 15 (App违法违规收集使用个人信息行为认定方法 §6(3) caps it at 15 working days)",
                self.working_days
            ));
        }
        if !(1..=30).contains(&self.calendar_days) {
            return Err(format!(
                "pipl.calendar_days = {}: must be 1 to 30 (GB/T 35273-2020 §8.7: 30 days)",
                self.calendar_days
            ));
        }
        Ok(())
    }
}

/// What "business day" means for the CCPA's clocks (11 CCR §7001 does not
/// define it). The default is the earlier reading: a day is off only when
/// both federal law (5 U.S.C. §6103) and California (Civ. Code §7, Gov.
/// Code §6700) keep it as a holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessDays {
    /// Off only when a federal and a California holiday (default).
    #[default]
    FederalAndCalifornia,
    /// Federal holidays off.
    Federal,
    /// California holidays off.
    California,
    /// Monday to Friday, no holidays (the strictest).
    Weekdays,
}

/// Settings of the clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockConfig {
    /// The PIPL answer period.
    pub pipl: PiplPolicy,
    /// The CCPA's business days.
    pub business_days: BusinessDays,
}

/// The time zone of a regime's jurisdiction, where its days are counted.
#[derive(Debug, Clone, Copy)]
pub struct Zone {
    /// The regime.
    pub regime: Regime,
    /// IANA zone.
    pub zone: &'static str,
    /// Why.
    pub why: &'static str,
}

/// Jurisdictions' zones.
pub const ZONES: &[Zone] = &[
    Zone {
        regime: Regime::Pipl,
        zone: "Asia/Shanghai",
        why: "mainland China keeps one time zone (UTC+8)",
    },
    Zone {
        regime: Regime::Gdpr,
        zone: "Europe/Brussels",
        why: "Central European Time; set [rights] gdpr_time_zone to the lead supervisory authority's member state (GDPR Art. 56)",
    },
    Zone {
        regime: Regime::Ccpa,
        zone: "America/Los_Angeles",
        why: "California (Pacific time, with daylight saving)",
    },
];

/// The date of `ms` in `zone` (UTC when the zone is unknown).
pub fn date_in(ms: i64, zone: chrono_tz::Tz) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.with_timezone(&zone).date_naive())
        .unwrap_or_default()
}

/// The receipt dates of a request received at `ms`: in the company's zone
/// and in the regime's (`regime_zone` overrides the table).
pub fn received_dates(
    ms: i64,
    company: chrono_tz::Tz,
    regime: Regime,
    regime_zone: Option<chrono_tz::Tz>,
) -> Vec<NaiveDate> {
    let theirs = regime_zone.or_else(|| {
        ZONES
            .iter()
            .find(|z| z.regime == regime)
            .and_then(|z| z.zone.parse().ok())
    });
    let mut v = vec![date_in(ms, company)];
    if let Some(z) = theirs {
        let d = date_in(ms, z);
        if !v.contains(&d) {
            v.push(d);
        }
    }
    v
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
    /// Whether a deadline fell in a year the holiday data does not cover
    /// (counted in calendar days instead: never later than the law's).
    pub calendar_gap: bool,
}

fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    // chrono clamps to the last day of the month (31 Jan + 1 month = 28/29 Feb).
    d.checked_add_months(Months::new(n)).expect("dates stay in range")
}

/// Working days on `cal` from `from`, or — when the calendar does not
/// cover every year the count passes through — the same number of calendar
/// days (a working-day count can never end earlier), flagged.
fn working(cal: &super::calendar::Calendar, from: NaiveDate, n: u32, gap: &mut bool) -> NaiveDate {
    let d = cal.add_working_days(from, n);
    if cal.covers(from) && cal.covers(d) {
        d
    } else {
        *gap = true;
        from + Days::new(n as u64)
    }
}

/// `d` rolled to a working day, unless the calendar does not know `d`'s
/// year (then `d` itself: an unknown make-up day could make it one).
fn roll(cal: &super::calendar::Calendar, d: NaiveDate, gap: &mut bool) -> NaiveDate {
    if !cal.covers(d) {
        *gap = true;
        return d;
    }
    let r = cal.roll_forward(d);
    if cal.covers(r) {
        r
    } else {
        *gap = true;
        d
    }
}

fn apply(rule: &ClockRule, from: NaiveDate, cfg: ClockConfig, cals: &Calendars, gap: &mut bool) -> NaiveDate {
    let cal = cals.resolve(rule.calendar, cfg.business_days);
    let raw = match rule.period {
        Period::Days(n) => from + Days::new(n as u64),
        Period::WorkingDays(n) => working(cal, from, n, gap),
        Period::Months(n) => add_months(from, n),
        Period::PiplConfigured => {
            // The earlier of the two (each as the law would count it). An
            // uncovered count gives a lower bound, so only the one chosen
            // decides whether the deadline is flagged.
            let cn = cals.get(CalendarId::CnWorking);
            let (mut gap_w, mut gap_d) = (false, false);
            let by_working = working(cn, from, cfg.pipl.working_days, &mut gap_w);
            let by_days = roll(cn, from + Days::new(cfg.pipl.calendar_days as u64), &mut gap_d);
            let (due, flagged) = if by_working <= by_days {
                (by_working, gap_w)
            } else {
                (by_days, gap_d)
            };
            *gap |= flagged;
            return due;
        }
    };
    if rule.roll_forward {
        roll(cal, raw, gap)
    } else {
        raw
    }
}

/// The deadlines of a `kind` request under `regime` received on any of
/// `received` (the dates of one instant in different zones): each deadline
/// is the earliest over them.
pub fn schedule(
    regime: Regime,
    kind: RequestKind,
    received: &[NaiveDate],
    extended: bool,
    cfg: ClockConfig,
    cals: &Calendars,
) -> Schedule {
    let mut out: Option<Schedule> = None;
    for d in received {
        let s = schedule_on(regime, kind, *d, extended, cfg, cals);
        out = Some(match out {
            None => s,
            Some(o) => Schedule {
                acknowledge_by: match (o.acknowledge_by, s.acknowledge_by) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                respond_by: o.respond_by.min(s.respond_by),
                original_respond_by: o.original_respond_by.min(s.original_respond_by),
                extension_notice_by: match (o.extension_notice_by, s.extension_notice_by) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                // The flag of the receipt date whose deadline was kept.
                calendar_gap: match s.respond_by.cmp(&o.respond_by) {
                    std::cmp::Ordering::Less => s.calendar_gap,
                    std::cmp::Ordering::Greater => o.calendar_gap,
                    std::cmp::Ordering::Equal => o.calendar_gap && s.calendar_gap,
                },
                ..o
            },
        });
    }
    out.expect("at least one receipt date")
}

fn schedule_on(
    regime: Regime,
    kind: RequestKind,
    received: NaiveDate,
    extended: bool,
    cfg: ClockConfig,
    cals: &Calendars,
) -> Schedule {
    let mut gap = false;
    let rules: Vec<&ClockRule> = RULES
        .iter()
        .filter(|r| r.regime == regime && r.applies.covers(kind))
        .collect();
    let find = |s: Step| rules.iter().find(|r| r.step == s);
    let respond = find(Step::Respond).expect("every regime has an answer rule");
    let original = apply(respond, received, cfg, cals, &mut gap);
    let acknowledge_by = find(Step::Acknowledge).map(|r| apply(r, received, cfg, cals, &mut gap));
    let extension_notice_by = find(Step::ExtensionNotice).map(|r| apply(r, received, cfg, cals, &mut gap));
    let respond_by = match (extended, find(Step::Extend)) {
        (true, Some(ext)) => {
            // Extensions run from the original deadline (computed without rolling, then rolled).
            let unrolled = ClockRule {
                roll_forward: false,
                ..**respond
            };
            let base = apply(&unrolled, received, cfg, cals, &mut gap);
            apply(ext, base, cfg, cals, &mut gap)
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
        calendar_gap: gap,
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
                "2026-09-21",
                "15 working days (make-up Sunday 20 Sep counts) come before 30 days (1 Oct, rolled to 8 Oct)",
            ),
            (
                Regime::Pipl,
                Access,
                "2026-11-01",
                false,
                None,
                "2026-11-20",
                "15 working days (20 Nov) before 30 days (1 Dec)",
            ),
            (
                Regime::Pipl,
                Erasure,
                "2026-09-10",
                false,
                None,
                "2026-10-08",
                "15 working days skip Mid-Autumn and National Day (8 Oct); 30 days is make-up Saturday 10 Oct",
            ),
            (
                Regime::Ccpa,
                LimitSensitive,
                "2026-11-20",
                false,
                None,
                "2026-12-14",
                "request to limit: 15 business days, Thanksgiving off",
            ),
            (
                Regime::Ccpa,
                Objection,
                "2026-06-26",
                false,
                None,
                "2026-07-17",
                "opt-out: 15 business days; 3 July (federal observance of a Saturday 4 July) is a California business day, so it counts",
            ),
            (
                Regime::Gdpr,
                Access,
                "2026-03-31",
                false,
                None,
                "2026-04-30",
                "31 Mar + 1 month = 30 Apr (month end), a Thursday",
            ),
            (
                Regime::Ccpa,
                Access,
                "2026-12-31",
                false,
                Some("2027-01-15"),
                "2027-02-14",
                "10 business days over New Year (1 Jan off under both), 45 days into 2027 (now covered)",
            ),
        ];
        for (regime, kind, received, ext, ack, respond, why) in table {
            let s = schedule(regime, kind, &[d(received)], ext, cfg, &cals);
            assert_eq!(s.acknowledge_by.map(|x| x.to_string()), ack.map(str::to_owned), "{why}");
            assert_eq!(s.respond_by.to_string(), respond, "{why}");
            assert!(!s.citations.is_empty(), "{why}");
        }
    }

    #[test]
    fn uncovered_years_count_calendar_days_and_are_flagged() {
        let cals = Calendars::bundled();
        let cfg = ClockConfig::default();
        // PIPL from 20 Dec 2026: the count runs into 2027, which the bundled
        // Chinese data does not cover: 15 calendar days, flagged.
        let s = schedule(Regime::Pipl, RequestKind::Access, &[d("2026-12-20")], false, cfg, &cals);
        assert_eq!(s.respond_by, d("2027-01-04"));
        assert!(s.calendar_gap);
        // Covered: no flag.
        let s = schedule(Regime::Pipl, RequestKind::Access, &[d("2026-11-01")], false, cfg, &cals);
        assert!(!s.calendar_gap);
        // From 2 December the 30 days reach 2027, but the 15 working days end
        // on 23 December, earlier than any count of the 30 could: exact, no flag.
        let s = schedule(Regime::Pipl, RequestKind::Access, &[d("2026-12-02")], false, cfg, &cals);
        assert_eq!(s.respond_by, d("2026-12-23"));
        assert!(!s.calendar_gap);
        // CCPA acknowledgement from 20 Dec 2027 reaches 2028: 10 calendar days.
        let s = schedule(Regime::Ccpa, RequestKind::Access, &[d("2027-12-20")], false, cfg, &cals);
        assert_eq!(s.acknowledge_by, Some(d("2027-12-30")));
        assert!(s.calendar_gap);
        // Loading next year's notice closes the gap, and the deadline moves
        // only to what the working days give (here earlier than calendar
        // days cannot be: a working-day count never ends before it).
        let file = "[cn_working]\nyears = [2027]\nholidays = [\"2027-01-01\"]\nworkdays = []\n";
        let loaded = Calendars::bundled_with(file).unwrap();
        let s2 = schedule(
            Regime::Pipl,
            RequestKind::Access,
            &[d("2026-12-20")],
            false,
            cfg,
            &loaded,
        );
        assert!(!s2.calendar_gap);
        assert!(s2.respond_by >= d("2027-01-04"), "{}", s2.respond_by);
        assert_eq!(s2.respond_by, d("2027-01-11"));
    }

    #[test]
    fn receipt_dates_in_both_zones_keep_the_earlier_deadline() {
        let ms = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        let sh: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let la: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
        // (instant, company zone, regime, dates, why)
        let table = [
            (
                "2026-11-20T05:30:00Z",
                sh,
                Regime::Ccpa,
                vec!["2026-11-20", "2026-11-19"],
                "a US evening is the next day in Shanghai",
            ),
            (
                "2026-11-20T07:59:00Z",
                la,
                Regime::Ccpa,
                vec!["2026-11-19"],
                "both zones Pacific",
            ),
            (
                "2026-03-09T07:30:00Z",
                la,
                Regime::Ccpa,
                vec!["2026-03-09"],
                "00:30 PDT the day after DST starts (PST would say 8 Mar)",
            ),
            (
                "2026-11-01T08:30:00Z",
                la,
                Regime::Ccpa,
                vec!["2026-11-01"],
                "01:30 PST after DST ends",
            ),
            (
                "2026-12-31T16:30:00Z",
                sh,
                Regime::Pipl,
                vec!["2027-01-01"],
                "00:30 in Beijing: next year",
            ),
            (
                "2026-01-31T23:30:00Z",
                la,
                Regime::Gdpr,
                vec!["2026-01-31", "2026-02-01"],
                "Brussels is past midnight",
            ),
        ];
        for (at, zone, regime, want, why) in table {
            let got: Vec<String> = received_dates(ms(at), zone, regime, None)
                .iter()
                .map(|x| x.to_string())
                .collect();
            assert_eq!(got, want, "{why}");
        }
        // A request received on a US evening gets the CCPA deadline from
        // the Californian date, one day earlier than Shanghai's.
        let dates = received_dates(ms("2026-11-20T05:30:00Z"), sh, Regime::Ccpa, None);
        let s = schedule(
            Regime::Ccpa,
            RequestKind::Access,
            &dates,
            false,
            ClockConfig::default(),
            &Calendars::bundled(),
        );
        assert_eq!(s.respond_by, d("2027-01-03"));
    }

    #[test]
    fn pipl_policy_refuses_absurd_values() {
        for (w, c, ok) in [
            (15, 30, true),
            (10, 20, true),
            (0, 30, false),
            (16, 30, false),
            (15, 31, false),
            (15, 0, false),
            (15, 365, false),
        ] {
            let p = PiplPolicy {
                working_days: w,
                calendar_days: c,
            };
            assert_eq!(p.check().is_ok(), ok, "{w} {c}");
        }
    }

    #[test]
    fn business_day_readings() {
        let cals = Calendars::bundled();
        let mut cfg = ClockConfig::default();
        // Friday 3 July 2026: federal observance of Saturday's Independence
        // Day; California does not move a Saturday holiday.
        let from = d("2026-07-02");
        let ack = |cfg: ClockConfig| {
            schedule(Regime::Ccpa, RequestKind::Access, &[from], false, cfg, &cals)
                .acknowledge_by
                .unwrap()
        };
        assert_eq!(ack(cfg), d("2026-07-16"), "both: 3 July is a business day");
        cfg.business_days = BusinessDays::Federal;
        assert_eq!(ack(cfg), d("2026-07-17"));
        cfg.business_days = BusinessDays::Weekdays;
        assert_eq!(ack(cfg), d("2026-07-16"));
        cfg.business_days = BusinessDays::California;
        assert_eq!(ack(cfg), d("2026-07-16"));
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
            &[d("2026-05-05")],
            false,
            ClockConfig::default(),
            &cals,
        );
        assert_eq!(s.extension_notice_by, Some(d("2026-06-05")));
        let s = schedule(
            Regime::Pipl,
            RequestKind::Access,
            &[d("2026-11-01")],
            false,
            ClockConfig {
                pipl: PiplPolicy {
                    working_days: 15,
                    calendar_days: 15,
                },
                ..Default::default()
            },
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
            for kind in RequestKind::ALL.into_iter().filter(|k| k.exists_under(regime)) {
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
