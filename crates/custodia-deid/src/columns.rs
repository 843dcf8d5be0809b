//! Classifying the columns of an unlabeled table: what each column holds,
//! judged from its values (the detector, applied to whole cells, plus
//! cell-level checks for bare names and dates) and, as a tie-breaker, its
//! header. The result proposes a schema field for each column.

use crate::detect::{detect, Kind};
use crate::dict::dict;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// What a cell holds, judged on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// The whole cell is one detected item.
    Pii(Kind),
    /// A calendar date (YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD).
    Date,
    /// Text with personal information inside it.
    TextWithPii,
    /// Anything else.
    Other,
}

/// How a whole cell is classified.
pub fn classify_cell(v: &str) -> CellKind {
    let v = v.trim();
    if v.is_empty() {
        return CellKind::Other;
    }
    if is_date(v) {
        return CellKind::Date;
    }
    let found = detect(v);
    let len = v.chars().count();
    // One finding covering (nearly) all of the cell: that is the value.
    if let Some(f) = found.iter().find(|f| (f.end - f.start) * 10 >= len * 9) {
        return CellKind::Pii(f.kind);
    }
    if bare_name(v) {
        return CellKind::Pii(Kind::PersonName);
    }
    if found.iter().any(|f| f.score >= 0.6) {
        return CellKind::TextWithPii;
    }
    CellKind::Other
}

fn is_date(v: &str) -> bool {
    ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"]
        .iter()
        .any(|f| chrono::NaiveDate::parse_from_str(v, f).is_ok())
}

/// A name standing alone in a cell: two to four Chinese characters
/// starting with a known surname, or two or three capitalized English
/// words of which one is a known given name.
fn bare_name(v: &str) -> bool {
    let d = dict();
    let chars: Vec<char> = v.chars().collect();
    let cjk = |c: &char| ('\u{4e00}'..='\u{9fff}').contains(c);
    if (2..=4).contains(&chars.len()) && chars.iter().all(cjk) {
        let compound = d.compound_surnames.iter().any(|s| v.starts_with(s.as_str()));
        return (compound || d.surnames.contains(&chars[0])) && !chars[1..].iter().any(|c| d.name_stop.contains(c));
    }
    let words: Vec<&str> = v.split_whitespace().collect();
    (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            let mut cs = w.chars();
            cs.next().is_some_and(|c| c.is_ascii_uppercase())
                && cs.all(|c| c.is_ascii_lowercase() || c == '-' || c == '\'')
        })
        && words.iter().any(|w| d.first_names.contains(*w))
}

/// Header words that hint at a column's content (English and Chinese).
const HINTS: &[(&[&str], CellKind)] = &[
    (
        &["身份证", "证件", "national_id", "id_number", "idcard"],
        CellKind::Pii(Kind::CnId),
    ),
    (
        &["手机", "电话", "mobile", "phone", "tel"],
        CellKind::Pii(Kind::CnMobile),
    ),
    (&["邮箱", "email", "e-mail", "mail"], CellKind::Pii(Kind::Email)),
    (&["银行卡", "卡号", "card"], CellKind::Pii(Kind::BankCard)),
    (&["地址", "住址", "address", "addr"], CellKind::Pii(Kind::Address)),
    (&["姓名", "名字", "name"], CellKind::Pii(Kind::PersonName)),
    (&["生日", "出生", "日期", "birth", "dob", "date"], CellKind::Date),
    (
        &["备注", "说明", "note", "comment", "remark", "memo", "description"],
        CellKind::TextWithPii,
    ),
];

fn hint(header: &str) -> Option<CellKind> {
    let h = header.to_lowercase();
    HINTS
        .iter()
        .find(|(words, _)| words.iter().any(|w| h.contains(w)))
        .map(|(_, k)| *k)
}

/// What a column holds.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnReport {
    /// The header as written.
    pub header: String,
    /// The proposed schema field name.
    pub field: String,
    /// The verdict.
    pub kind: CellKind,
    /// Share of non-empty sampled cells that agree with the verdict.
    pub confidence: f64,
    /// Non-empty cells sampled.
    pub sampled: usize,
    /// Distinct values (up to a limit) when few: a closed list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Whether the header agrees with the values.
    pub header_agrees: bool,
}

/// Columns with at most this many distinct values (and no personal data)
/// are proposed as closed lists.
const CLOSED_LIST: usize = 12;

/// Accumulates the cells of one column.
#[derive(Debug, Default, Clone)]
pub struct ColumnSample {
    counts: BTreeMap<CellKind, usize>,
    distinct: HashSet<String>,
    too_many: bool,
    sampled: usize,
}

impl ColumnSample {
    /// Count one cell.
    pub fn add(&mut self, v: &str) {
        let v = v.trim();
        if v.is_empty() {
            return;
        }
        self.sampled += 1;
        *self.counts.entry(classify_cell(v)).or_default() += 1;
        if !self.too_many {
            self.distinct.insert(v.to_owned());
            self.too_many = self.distinct.len() > CLOSED_LIST;
        }
    }

    /// The verdict for a column named `header`.
    pub fn verdict(&self, header: &str) -> ColumnReport {
        let field = field_name(header);
        let hinted = hint(header);
        let n = self.sampled.max(1) as f64;
        // Phone kinds count together: a column mixes mobiles, landlines
        // and international numbers.
        let mut merged: BTreeMap<CellKind, usize> = BTreeMap::new();
        for (k, c) in &self.counts {
            let k = match k {
                CellKind::Pii(Kind::CnLandline | Kind::Phone) => CellKind::Pii(Kind::CnMobile),
                k => *k,
            };
            *merged.entry(k).or_default() += c;
        }
        let pii: Vec<(CellKind, usize)> = merged
            .iter()
            .filter(|(k, _)| **k != CellKind::Other)
            .map(|(k, c)| (*k, *c))
            .collect();
        let best = pii.iter().max_by_key(|(k, c)| (*c, Some(*k) == hinted)).copied();
        let (kind, agree) = match best {
            // A clear majority of the values.
            Some((k, c)) if c as f64 >= 0.6 * n => (k, c),
            // Personal data in part of a column is still personal data:
            // free text to scan (fail closed), unless the header says what it is.
            Some((_, c)) => match hinted {
                Some(h) if merged.get(&h).copied().unwrap_or(0) as f64 >= 0.3 * n => (h, merged[&h]),
                _ => (CellKind::TextWithPii, c),
            },
            None => (CellKind::Other, merged.get(&CellKind::Other).copied().unwrap_or(0)),
        };
        let values = (kind == CellKind::Other && !self.too_many && self.sampled > 0).then(|| {
            let mut v: Vec<String> = self.distinct.iter().cloned().collect();
            v.sort();
            v
        });
        ColumnReport {
            header: header.to_owned(),
            field,
            kind,
            confidence: if self.sampled == 0 { 0.0 } else { agree as f64 / n },
            sampled: self.sampled,
            values,
            header_agrees: hinted == Some(kind),
        }
    }
}

/// A schema field name from a header: lowercase ASCII letters, digits and
/// underscores, starting with a letter; Chinese headers get a name from
/// their hint or `column_N` from the caller.
pub fn field_name(header: &str) -> String {
    let mut out = String::new();
    for c in header.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_lowercase()) {
        return out;
    }
    match hint(header) {
        Some(CellKind::Pii(Kind::CnId)) => "national_id".into(),
        Some(CellKind::Pii(Kind::CnMobile)) => "mobile".into(),
        Some(CellKind::Pii(Kind::Email)) => "email".into(),
        Some(CellKind::Pii(Kind::BankCard)) => "bank_card".into(),
        Some(CellKind::Pii(Kind::Address)) => "address".into(),
        Some(CellKind::Pii(Kind::PersonName)) => "name".into(),
        Some(CellKind::Date)
            if ["生日", "出生", "birth", "dob"]
                .iter()
                .any(|w| header.to_lowercase().contains(w)) =>
        {
            "birth_date".into()
        }
        Some(CellKind::Date) => "date".into(),
        Some(CellKind::TextWithPii) => "notes".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        for (v, want) in [
            ("11010519491231002X", CellKind::Pii(Kind::CnId)),
            ("+86 138-0013-8000", CellKind::Pii(Kind::CnMobile)),
            ("lin@example.cn", CellKind::Pii(Kind::Email)),
            ("6222 0200 0000 0000 000", CellKind::Pii(Kind::BankCard)),
            ("张伟", CellKind::Pii(Kind::PersonName)),
            ("欧阳娜娜", CellKind::Pii(Kind::PersonName)),
            ("Emily Carter", CellKind::Pii(Kind::PersonName)),
            ("上海市浦东新区世纪大道100号", CellKind::Pii(Kind::Address)),
            ("1990-02-03", CellKind::Date),
            ("1990年2月3日", CellKind::Date),
            ("请回拨 13800138000 谢谢", CellKind::TextWithPii),
            ("vip", CellKind::Other),
            ("的确如此", CellKind::Other),
            ("Blue Widget", CellKind::Other),
            ("", CellKind::Other),
        ] {
            assert_eq!(classify_cell(v), want, "{v}");
        }
    }

    fn column(header: &str, values: &[&str]) -> ColumnReport {
        let mut s = ColumnSample::default();
        for v in values {
            s.add(v);
        }
        s.verdict(header)
    }

    #[test]
    fn columns() {
        let c = column("联系电话", &["13800138000", "010-6552 9988", "+1 415 555 0134", ""]);
        assert_eq!(
            (c.kind, c.field.as_str(), c.sampled),
            (CellKind::Pii(Kind::CnMobile), "mobile", 3)
        );
        assert!(c.header_agrees && c.confidence == 1.0);
        let c = column("col7", &["retail", "vip", "retail", "corporate"]);
        assert_eq!(c.kind, CellKind::Other);
        assert_eq!(c.values.unwrap(), ["corporate", "retail", "vip"]);
        // Mostly plain text, a few cells with a number inside: scanned free text.
        let c = column(
            "Comment",
            &["ok", "call back", "新号码 13912345678", "fine", "no answer"],
        );
        assert_eq!(c.kind, CellKind::TextWithPii);
        // A header that misleads does not win over the values.
        let c = column("name", &["lin@example.cn", "wang@example.com"]);
        assert_eq!(c.kind, CellKind::Pii(Kind::Email));
        assert!(!c.header_agrees);
        let c = column("Customer Name (full)", &[]);
        assert_eq!(
            (c.field.as_str(), c.kind, c.sampled),
            ("customer_name_full", CellKind::Other, 0)
        );
    }

    #[test]
    fn field_names() {
        for (h, want) in [
            ("Email Address", "email_address"),
            ("  手机号码 ", "mobile"),
            ("身份证号", "national_id"),
            ("2nd phone", "mobile"),
            ("客户等级", ""),
            ("出生日期", "birth_date"),
            ("开户日期", "date"),
        ] {
            assert_eq!(field_name(h), want, "{h}");
        }
    }
}
