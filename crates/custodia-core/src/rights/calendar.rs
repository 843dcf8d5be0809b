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
    /// United States business days (weekends and federal holidays off).
    UsBusiness,
}

impl CalendarId {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarId::Weekdays => "weekdays",
            CalendarId::CnWorking => "cn_working",
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

    /// Whether the data covers `d`'s year (outside it, holidays are unknown).
    pub fn covers(&self, d: NaiveDate) -> bool {
        self.years.contains(&d.year())
    }
}

/// Every calendar.
#[derive(Debug, Clone, Default)]
pub struct Calendars(BTreeMap<CalendarId, Calendar>);

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
        let raw: BTreeMap<String, RawCalendar> =
            toml::from_str(text).map_err(|e| CalendarError::Toml(e.message().to_owned()))?;
        let mut out = BTreeMap::new();
        out.insert(CalendarId::Weekdays, Calendar::default());
        for (name, r) in raw {
            let id = match name.as_str() {
                "cn_working" => CalendarId::CnWorking,
                "us_business" => CalendarId::UsBusiness,
                other => return Err(CalendarError::Toml(format!("unknown calendar {other:?}"))),
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
        Ok(Calendars(out))
    }

    /// A calendar (Monday to Friday when the data has none by that id).
    pub fn get(&self, id: CalendarId) -> &Calendar {
        static EMPTY: std::sync::OnceLock<Calendar> = std::sync::OnceLock::new();
        self.0.get(&id).unwrap_or_else(|| EMPTY.get_or_init(Calendar::default))
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
    }

    #[test]
    fn us_business_days_known_answers() {
        let c = Calendars::bundled();
        let us = c.get(CalendarId::UsBusiness);
        assert!(!us.is_working_day(d("2026-11-26")), "Thanksgiving");
        assert!(!us.is_working_day(d("2026-07-03")), "Independence Day observed");
        assert!(us.is_working_day(d("2026-11-27")));
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
