//! Working-day calendars: which days count when a law says "business days"
//! or when a deadline falling on a day off rolls to the next working day.
//! Holidays and make-up working days are data (`data/holidays.toml`).

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The bundled holiday data.
pub const HOLIDAYS_TOML: &str = include_str!("../../data/holidays.toml");

/// A named calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarId {
    /// Monday to Friday.
    Weekdays,
    /// Mainland China working days (statutory holidays off, make-up days on).
    CnWorking,
    /// United States federal holidays off (5 U.S.C. §6103, observed dates).
    UsFederal,
    /// California holidays off (Cal. Gov. Code §6700; Civ. Code §7).
    California,
    /// The CCPA's business days: resolved by
    /// [`BusinessDays`](super::clock::BusinessDays) to one of the above, or
    /// to the days off under both federal and California law.
    UsBusiness,
}

impl CalendarId {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarId::Weekdays => "weekdays",
            CalendarId::CnWorking => "cn_working",
            CalendarId::UsFederal => "us_federal",
            CalendarId::California => "california",
            CalendarId::UsBusiness => "us_business",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    years: Vec<i32>,
    holidays: Vec<String>,
    workdays: Vec<String>,
}

/// One calendar's days off and extra working days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Years the data covers (outside them, Monday to Friday).
    pub years: BTreeSet<i32>,
    /// Weekdays that are off.
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days.
    pub workdays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        if self.holidays.contains(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The `n`th working day after `d` (`d` itself not counted).
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day + Days::new(1);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// `d` if it is a working day, else the next one.
    pub fn roll_forward(&self, d: NaiveDate) -> NaiveDate {
        let mut day = d;
        while !self.is_working_day(day) {
            day = day + Days::new(1);
        }
        day
    }

    /// Whether the data covers `d`'s year (outside it, holidays are
    /// unknown). A calendar without holiday data (Monday to Friday) covers
    /// every year.
    pub fn covers(&self, d: NaiveDate) -> bool {
        self.years.is_empty() && self.holidays.is_empty() || self.years.contains(&d.year())
    }

    /// Days off in both calendars, over the years both cover.
    fn both(a: &Calendar, b: &Calendar) -> Calendar {
        Calendar {
            years: a.years.intersection(&b.years).copied().collect(),
            holidays: a.holidays.intersection(&b.holidays).copied().collect(),
            workdays: a.workdays.union(&b.workdays).copied().collect(),
        }
    }
}

/// Every calendar.
#[derive(Debug, Clone, Default)]
pub struct Calendars {
    map: BTreeMap<CalendarId, Calendar>,
    /// Federal and California days off together (derived).
    both: Calendar,
}

/// Why holiday data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Not valid TOML of the expected shape.
    #[error("holiday data: {0}")]
    Toml(String),
    /// A date that does not parse.
    #[error("holiday data: {calendar}: {value:?} is not a date written YYYY-MM-DD")]
    Date {
        /// Calendar.
        calendar: String,
        /// The text.
        value: String,
    },
    /// A holiday on a weekend, a make-up day on a weekday, or a date outside the declared years.
    #[error("holiday data: {calendar}: {date} {problem}")]
    Inconsistent {
        /// Calendar.
        calendar: String,
        /// The date.
        date: NaiveDate,
        /// What is wrong.
        problem: &'static str,
    },
}

impl Calendars {
    /// The bundled data.
    pub fn bundled() -> Calendars {
        Calendars::from_toml(HOLIDAYS_TOML).expect("the bundled holiday data is valid")
    }

    /// Parse and check holiday data.
    pub fn from_toml(text: &str) -> Result<Calendars, CalendarError> {
        let map = Calendars::parse(text)?;
        Ok(Calendars::with(map))
    }

    /// The bundled data with a company's file over it: each year the file
    /// lists replaces that year of its calendar (a new State Council notice
    /// adds next year; a correction replaces one).
    pub fn bundled_with(text: &str) -> Result<Calendars, CalendarError> {
        let extra = Calendars::parse(text)?;
        let mut map = Calendars::bundled().map;
        for (id, add) in extra {
            let cal = map.entry(id).or_default();
            cal.holidays.retain(|d| !add.years.contains(&d.year()));
            cal.workdays.retain(|d| !add.years.contains(&d.year()));
            cal.years.extend(add.years.iter().copied());
            cal.holidays.extend(add.holidays);
            cal.workdays.extend(add.workdays);
        }
        Ok(Calendars::with(map))
    }

    fn with(map: BTreeMap<CalendarId, Calendar>) -> Calendars {
        let empty = Calendar::default();
        let both = Calendar::both(
            map.get(&CalendarId::UsFederal).unwrap_or(&empty),
            map.get(&CalendarId::California).unwrap_or(&empty),
        );
        Calendars { map, both }
    }

    /// The years each calendar covers (for `custodia status`).
    pub fn coverage(&self) -> Vec<(CalendarId, Vec<i32>)> {
        self.map
            .iter()
            .filter(|(id, _)| **id != CalendarId::Weekdays)
            .map(|(id, c)| (*id, c.years.iter().copied().collect()))
            .collect()
    }

    /// Calendars whose data does not cover `year`.
    pub fn missing_year(&self, year: i32) -> Vec<CalendarId> {
        self.coverage()
            .into_iter()
            .filter(|(_, years)| !years.contains(&year))
            .map(|(id, _)| id)
            .collect()
    }

    fn parse(text: &str) -> Result<BTreeMap<CalendarId, Calendar>, CalendarError> {
        let raw: BTreeMap<String, RawCalendar> =
            toml::from_str(text).map_err(|e| CalendarError::Toml(e.message().to_owned()))?;
        let mut out = BTreeMap::new();
        out.insert(CalendarId::Weekdays, Calendar::default());
        for (name, r) in raw {
            let id = match name.as_str() {
                "cn_working" => CalendarId::CnWorking,
                "us_federal" => CalendarId::UsFederal,
                "california" => CalendarId::California,
                other => {
                    return Err(CalendarError::Toml(format!(
                        "unknown calendar {other:?} (known: cn_working, us_federal, california)"
                    )))
                }
            };
            let parse = |v: &String| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| CalendarError::Date {
                    calendar: name.clone(),
                    value: v.clone(),
                })
            };
            let years: BTreeSet<i32> = r.years.into_iter().collect();
            let mut cal = Calendar {
                years,
                ..Default::default()
            };
            for h in &r.holidays {
                let d = parse(h)?;
                cal.holidays.insert(d);
            }
            for w in &r.workdays {
                let d = parse(w)?;
                if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                    return Err(CalendarError::Inconsistent {
                        calendar: name.clone(),
                        date: d,
                        problem: "is a make-up working day but not a weekend day",
                    });
                }
                cal.workdays.insert(d);
            }
            for d in cal.holidays.iter().chain(cal.workdays.iter()) {
                if !cal.years.contains(&d.year()) {
                    return Err(CalendarError::Inconsistent {
                        calendar: name.clone(),
                        date: *d,
                        problem: "lies outside the calendar's declared years",
                    });
                }
                if cal.holidays.contains(d) && cal.workdays.contains(d) {
                    return Err(CalendarError::Inconsistent {
                        calendar: name.clone(),
                        date: *d,
                        problem: "is listed both as a holiday and as a working day",
                    });
                }
            }
            out.insert(id, cal);
        }
        Ok(out)
    }

    /// A calendar (Monday to Friday when the data has none by that id;
    /// `UsBusiness` is the default reading, federal and California).
    pub fn get(&self, id: CalendarId) -> &Calendar {
        self.resolve(id, super::clock::BusinessDays::default())
    }

    /// A calendar, with the CCPA's business days read as `business`.
    pub fn resolve(&self, id: CalendarId, business: super::clock::BusinessDays) -> &Calendar {
        use super::clock::BusinessDays as B;
        static EMPTY: std::sync::OnceLock<Calendar> = std::sync::OnceLock::new();
        let id = match (id, business) {
            (CalendarId::UsBusiness, B::FederalAndCalifornia) => return &self.both,
            (CalendarId::UsBusiness, B::Federal) => CalendarId::UsFederal,
            (CalendarId::UsBusiness, B::California) => CalendarId::California,
            (CalendarId::UsBusiness, B::Weekdays) => CalendarId::Weekdays,
            (id, _) => id,
        };
        self.map
            .get(&id)
            .unwrap_or_else(|| EMPTY.get_or_init(Calendar::default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn chinese_working_days_known_answers() {
        let c = Calendars::bundled();
        let cn = c.get(CalendarId::CnWorking);
        // (date, working?) from the State Council notices.
        let table = [
            ("2025-10-01", false, "National Day"),
            ("2025-10-08", false, "National Day, a Wednesday"),
            ("2025-10-09", true, "back to work"),
            ("2025-10-11", true, "make-up Saturday"),
            ("2025-09-28", true, "make-up Sunday"),
            ("2025-01-26", true, "make-up Sunday before Spring Festival"),
            ("2025-01-29", false, "Spring Festival"),
            ("2026-02-16", false, "Spring Festival 2026"),
            ("2026-02-14", true, "make-up Saturday 2026"),
            ("2026-01-04", true, "make-up Sunday after New Year 2026"),
            ("2026-11-23", true, "an ordinary Monday"),
            ("2026-11-22", false, "an ordinary Sunday"),
        ];
        for (day, working, why) in table {
            assert_eq!(cn.is_working_day(d(day)), working, "{day} {why}");
        }
        // Ten working days from the eve of National Day 2025 skip the whole week.
        assert_eq!(cn.add_working_days(d("2025-09-30"), 1), d("2025-10-09"));
        assert_eq!(cn.add_working_days(d("2025-09-30"), 3), d("2025-10-11"));
        assert_eq!(cn.roll_forward(d("2025-10-03")), d("2025-10-09"));
        assert!(cn.covers(d("2026-05-01")) && !cn.covers(d("2027-05-01")));
        assert!(
            c.get(CalendarId::Weekdays).covers(d("2031-05-01")),
            "no holidays: every year"
        );
        assert_eq!(c.missing_year(2027), vec![CalendarId::CnWorking]);
    }

    #[test]
    fn a_company_file_adds_or_replaces_years() {
        let file = "[cn_working]\nyears = [2027]\nholidays = [\"2027-01-01\", \"2027-02-08\"]\nworkdays = [\"2027-02-06\"]\n\n[us_federal]\nyears = [2026]\nholidays = [\"2026-11-26\"]\nworkdays = []\n";
        let c = Calendars::bundled_with(file).unwrap();
        let cn = c.get(CalendarId::CnWorking);
        assert!(cn.covers(d("2027-03-01")) && cn.covers(d("2025-03-01")));
        assert!(!cn.is_working_day(d("2027-02-08")) && cn.is_working_day(d("2027-02-06")));
        assert!(!cn.is_working_day(d("2026-10-01")), "bundled years stay");
        let fed = c.get(CalendarId::UsFederal);
        assert!(
            fed.is_working_day(d("2026-12-25")),
            "a listed year replaces the bundled one"
        );
        assert!(c.missing_year(2027).is_empty());
        assert!(
            Calendars::bundled_with("[cn_working]\nyears = [2027]\nholidays = [\"2028-01-01\"]\nworkdays = []")
                .is_err()
        );
    }

    #[test]
    fn us_business_days_known_answers() {
        let c = Calendars::bundled();
        let us = c.get(CalendarId::UsBusiness);
        let fed = c.get(CalendarId::UsFederal);
        let ca = c.get(CalendarId::California);
        assert!(!us.is_working_day(d("2026-11-26")), "Thanksgiving");
        assert!(
            !fed.is_working_day(d("2026-07-03")),
            "Independence Day observed, federal"
        );
        assert!(
            ca.is_working_day(d("2026-07-03")),
            "California does not move a Saturday holiday"
        );
        assert!(
            us.is_working_day(d("2026-07-03")),
            "the earlier reading: off only when off under both"
        );
        assert!(
            !ca.is_working_day(d("2026-03-31")) && fed.is_working_day(d("2026-03-31")),
            "César Chávez Day"
        );
        assert!(us.is_working_day(d("2026-03-31")));
        assert!(!ca.is_working_day(d("2026-11-27")) && us.is_working_day(d("2026-11-27")));
        // 2027 is covered: Juneteenth observed on Friday 18 June, New Year 2028 on 31 December.
        assert!(!fed.is_working_day(d("2027-06-18")) && !fed.is_working_day(d("2027-12-31")));
        assert!(fed.covers(d("2027-06-01")) && !fed.covers(d("2028-01-03")));
        // 10 business days from Friday 2026-11-20: Thanksgiving is skipped.
        assert_eq!(us.add_working_days(d("2026-11-20"), 10), d("2026-12-07"));
        let wk = c.get(CalendarId::Weekdays);
        assert_eq!(wk.add_working_days(d("2026-11-20"), 10), d("2026-12-04"));
    }

    #[test]
    fn inconsistent_data_is_refused() {
        let bad = [
            "[cn_working]\nyears = [2026]\nholidays = [\"2026-13-01\"]\nworkdays = []",
            "[cn_working]\nyears = [2026]\nholidays = []\nworkdays = [\"2026-11-23\"]",
            "[cn_working]\nyears = [2025]\nholidays = [\"2026-01-01\"]\nworkdays = []",
            "[mars]\nyears = []\nholidays = []\nworkdays = []",
        ];
        for b in bad {
            assert!(Calendars::from_toml(b).is_err(), "{b}");
        }
    }
}
