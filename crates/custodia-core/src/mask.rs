//! Display masks: what a staff member sees of a value without a reveal.
//!
//! Masks apply to normalized values (see [`crate::validate`]) and are chosen
//! per field in the schema. They are total: any input gives some output, and
//! the output never holds more of the value than the mask allows.

use crate::schema::FieldType;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A display mask, written in the schema as `phone`, `keep(3,4)`, etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Shown as is (internal fields only).
    None,
    /// Nothing shown: `****`.
    Full,
    /// `138****5678` for Chinese mobiles, `+1 ******5678` otherwise.
    Phone,
    /// An identity document, by its normalized shape: a resident ID keeps
    /// its region and last four (`110101********123X`, the birth date
    /// hidden), an SSN its last four (`***-**-6789`), anything else its
    /// last three.
    NationalId,
    /// `z***@example.com`.
    Email,
    /// `**** **** **** 1234`.
    Card,
    /// `张*三`, `J*** S****`.
    Name,
    /// Province and city only: `广东省深圳市****`.
    Address,
    /// Year only: `1990-**-**`.
    Year,
    /// Keep the first and last characters, star the rest.
    Keep {
        /// Characters kept at the start.
        first: u8,
        /// Characters kept at the end.
        last: u8,
    },
}

/// A mask name that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mask {0:?}: use none, full, phone, national_id, email, card, name, address, year or keep(FIRST,LAST)")]
pub struct MaskParseError(String);

impl FromStr for Mask {
    type Err = MaskParseError;
    fn from_str(s: &str) -> Result<Mask, MaskParseError> {
        let t = s.trim();
        Ok(match t {
            "none" => Mask::None,
            "full" => Mask::Full,
            "phone" => Mask::Phone,
            "national_id" => Mask::NationalId,
            "email" => Mask::Email,
            "card" => Mask::Card,
            "name" => Mask::Name,
            "address" => Mask::Address,
            "year" => Mask::Year,
            _ => {
                let inner = t
                    .strip_prefix("keep(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| MaskParseError(s.into()))?;
                let (a, b) = inner.split_once(',').ok_or_else(|| MaskParseError(s.into()))?;
                let first = a.trim().parse().map_err(|_| MaskParseError(s.into()))?;
                let last = b.trim().parse().map_err(|_| MaskParseError(s.into()))?;
                Mask::Keep { first, last }
            }
        })
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mask::None => f.write_str("none"),
            Mask::Full => f.write_str("full"),
            Mask::Phone => f.write_str("phone"),
            Mask::NationalId => f.write_str("national_id"),
            Mask::Email => f.write_str("email"),
            Mask::Card => f.write_str("card"),
            Mask::Name => f.write_str("name"),
            Mask::Address => f.write_str("address"),
            Mask::Year => f.write_str("year"),
            Mask::Keep { first, last } => write!(f, "keep({first},{last})"),
        }
    }
}

impl Serialize for Mask {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Mask {
    /// Why this mask cannot be used on a field of type `kind`, if it cannot.
    pub fn unsuitable_for(self, kind: FieldType) -> Option<String> {
        let ok = match self {
            Mask::Phone => kind == FieldType::Phone,
            Mask::NationalId => matches!(kind, FieldType::CnNationalId | FieldType::IdDocument),
            Mask::Email => kind == FieldType::Email,
            Mask::Card => kind == FieldType::BankCard,
            Mask::Year => kind == FieldType::Date,
            Mask::Keep { first, last } => first as usize + last as usize <= 8,
            Mask::None | Mask::Full | Mask::Name | Mask::Address => true,
        };
        (!ok).then(|| format!("mask {self} does not fit a field of type {kind:?}"))
    }

    /// Apply the mask to a normalized value.
    pub fn apply(self, v: &str) -> String {
        match self {
            Mask::None => v.to_owned(),
            Mask::Full => "****".to_owned(),
            Mask::Phone => mask_phone(v),
            Mask::NationalId => mask_id(v),
            Mask::Email => mask_email(v),
            Mask::Card => {
                let digits: Vec<char> = v.chars().filter(|c| c.is_ascii_digit()).collect();
                if digits.len() < 12 {
                    return "****".into();
                }
                let last: String = digits[digits.len() - 4..].iter().collect();
                format!("**** **** **** {last}")
            }
            Mask::Name => mask_name(v),
            Mask::Address => mask_address(v),
            Mask::Year => match v.get(0..4) {
                Some(y) if v.len() == 10 && y.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{y}-**-**")
                }
                _ => "****".into(),
            },
            Mask::Keep { first, last } => keep(v, first as usize, last as usize),
        }
    }
}

/// Keep `first` and `last` characters, star the middle. Values too short to
/// hide at least four characters are starred completely.
fn keep(v: &str, first: usize, last: usize) -> String {
    let chars: Vec<char> = v.chars().collect();
    let n = chars.len();
    // At least four characters stay hidden, or nothing is shown.
    if first + last + 4 > n {
        return "*".repeat(n.clamp(4, 32));
    }
    let mut out: String = chars[..first].iter().collect();
    out.extend(std::iter::repeat_n('*', n - first - last));
    out.extend(&chars[n - last..]);
    out
}

fn mask_phone(v: &str) -> String {
    let (num, _ext) = v.split_once(";ext=").unwrap_or((v, ""));
    if let Some(national) = num.strip_prefix("+86") {
        if national.len() == 11 && national.starts_with('1') {
            return format!("{}****{}", &national[..3], &national[7..]);
        }
    }
    let digits: String = num.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 8 {
        return "****".into();
    }
    let last = &digits[digits.len() - 4..];
    let hidden = digits.len() - 4;
    format!("+{}{}", "*".repeat(hidden), last)
}

fn mask_id(v: &str) -> String {
    let b = v.as_bytes();
    let ssn = b.len() == 11
        && b[3] == b'-'
        && b[6] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 3 || i == 6 || c.is_ascii_digit());
    if ssn {
        return format!("***-**-{}", &v[7..]);
    }
    if v.chars().count() == 18 {
        return keep(v, 6, 4);
    }
    keep(v, 0, 3)
}

fn mask_email(v: &str) -> String {
    match v.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "****".into(),
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn mask_name(v: &str) -> String {
    let chars: Vec<char> = v.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.is_empty() {
        return "*".into();
    }
    if chars.iter().all(|&c| is_cjk(c) || c == '·') {
        return match chars.len() {
            1 => "*".into(),
            2 => format!("{}*", chars[0]),
            n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
        };
    }
    v.split_whitespace()
        .map(|w| {
            let mut it = w.chars();
            let first = it.next().unwrap_or('*');
            format!("{first}{}", "*".repeat(it.count().max(1)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Province-level units whose own name is also the city.
const MUNICIPALITIES: &[&str] = &["北京市", "上海市", "天津市", "重庆市"];

fn mask_address(v: &str) -> String {
    if v.chars().any(is_cjk) {
        for m in MUNICIPALITIES {
            if v.starts_with(m) {
                return format!("{m}****");
            }
        }
        for region in ["香港特别行政区", "澳门特别行政区", "香港", "澳门"] {
            if v.starts_with(region) {
                return format!("{region}****");
            }
        }
        // Province (…省 / …自治区), then prefecture (…市 / …州 / …地区 / …盟).
        let mut out = String::new();
        let mut rest = v;
        for enders in [&["省", "自治区"][..], &["市", "自治州", "地区", "盟"][..]] {
            let hit = enders
                .iter()
                .filter_map(|e| rest.find(e).map(|i| i + e.len()))
                .filter(|&end| rest[..end].chars().count() <= 12)
                .min();
            if let Some(end) = hit {
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
        if out.is_empty() {
            return "****".into();
        }
        return format!("{out}****");
    }
    // Western addresses: drop the first component (street and number) and
    // any digits (house numbers, postcodes) from the rest.
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 2 {
        return "****".into();
    }
    let kept: Vec<String> = parts[1..]
        .iter()
        .map(|p| {
            p.split_whitespace()
                .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect();
    format!("****, {}", kept.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(Mask, &str, &str)] = &[
            (Mask::Phone, "+8613812345678", "138****5678"),
            (Mask::Phone, "+8613812345678;ext=12", "138****5678"),
            (Mask::Phone, "+14155550123", "+*******0123"),
            (Mask::NationalId, "11010119900307123X", "110101********123X"),
            (Mask::Email, "zhang.san@example.com", "z***@example.com"),
            (Mask::Card, "6222021234567890123", "**** **** **** 0123"),
            (Mask::Card, "4111111111111111", "**** **** **** 1111"),
            (Mask::Name, "张三丰", "张*丰"),
            (Mask::Name, "张三", "张*"),
            (Mask::Name, "欧阳娜娜", "欧**娜"),
            (Mask::Name, "John Smith", "J*** S****"),
            (Mask::Address, "广东省深圳市南山区科技园路1号", "广东省深圳市****"),
            (Mask::Address, "北京市朝阳区建国路88号", "北京市****"),
            (Mask::Address, "广东省广州市天河区学院路311号", "广东省广州市****"),
            (
                Mask::Address,
                "云南省大理白族自治州大理市1号",
                "云南省大理白族自治州****",
            ),
            (
                Mask::Address,
                "新疆维吾尔自治区乌鲁木齐市天山区1号",
                "新疆维吾尔自治区乌鲁木齐市****",
            ),
            (
                Mask::Address,
                "123 Main St, Springfield, IL 62701, USA",
                "****, Springfield, IL, USA",
            ),
            (Mask::Year, "1990-03-07", "1990-**-**"),
            (Mask::Full, "anything", "****"),
            (Mask::None, "retail", "retail"),
            (Mask::Keep { first: 2, last: 2 }, "ABCDEFGH", "AB****GH"),
            (Mask::Keep { first: 3, last: 3 }, "ABCD", "****"),
        ];
        for (m, input, want) in cases {
            assert_eq!(m.apply(input), *want, "{m} on {input}");
        }
    }

    #[test]
    fn parses_and_prints() {
        for s in [
            "none",
            "full",
            "phone",
            "national_id",
            "email",
            "card",
            "name",
            "address",
            "year",
            "keep(3,4)",
        ] {
            assert_eq!(s.parse::<Mask>().unwrap().to_string(), s);
        }
        assert!("keep(3)".parse::<Mask>().is_err());
        assert!("stars".parse::<Mask>().is_err());
    }

    proptest! {
        // Masks are total and never echo a long value back.
        #[test]
        fn masks_never_reveal_whole_values(v in "\\PC{8,40}") {
            for m in [Mask::Full, Mask::Phone, Mask::NationalId, Mask::Email, Mask::Card, Mask::Name, Mask::Address, Mask::Year, Mask::Keep{first:3,last:4}] {
                let out = m.apply(&v);
                prop_assert_ne!(out, v.clone());
            }
        }

        #[test]
        fn national_id_mask_hides_birth_date(id in "[1-6][0-9]{16}[0-9X]") {
            let out = Mask::NationalId.apply(&id);
            prop_assert_eq!(&out[..6], &id[..6]);
            prop_assert_eq!(&out[6..14], "********");
            prop_assert_eq!(&out[14..], &id[14..]);
        }

        #[test]
        fn phone_mask_keeps_last_four(n in "1[3-9][0-9]{9}") {
            let out = Mask::Phone.apply(&format!("+86{n}"));
            prop_assert_eq!(&out[..3], &n[..3]);
            prop_assert_eq!(&out[3..7], "****");
            prop_assert_eq!(&out[7..], &n[7..]);
        }
    }
}
