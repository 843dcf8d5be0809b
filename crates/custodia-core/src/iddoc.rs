//! Identity documents: each kind with its validator and normalizer (its
//! mask is [`crate::mask::Mask::NationalId`], which reads the normalized
//! shape), and the record context that says which kind a value is.
//!
//! A value's kind comes from the record: its `id_kind` field, else its
//! country (a US customer's number is a Social Security number), else the
//! shape of a mainland resident ID, which also stays the default so that
//! every record stored before kinds existed reads as it did.

use crate::normalize::strip_separators;
use crate::validate::{cn_id_check_char, ValidationError};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The kind of an identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// Mainland resident identity card, and the residence permits of Hong
    /// Kong, Macau and Taiwan residents in the same format (GB 11643-1999).
    CnResident,
    /// US Social Security number (SSA structure: area 001-899 but not 666,
    /// group 01-99, serial 0001-9999).
    UsSsn,
    /// A passport (ICAO Doc 9303 document number: 6 to 9 letters and digits).
    Passport,
    /// Mainland travel permit for Hong Kong and Macau residents (回乡证):
    /// H or M and 8 digits (10 on older cards).
    HkMacauPermit,
    /// Mainland travel permit for Taiwan residents (台胞证): 8 digits (10 on
    /// older cards).
    TwPermit,
    /// An EU national identity number with a check digit, read by the
    /// record's country: Spain (DNI/NIE, mod 23), the Netherlands (BSN,
    /// eleven test), Belgium (national register number, mod 97), Sweden
    /// (personnummer, Luhn).
    EuNationalId,
}

impl IdKind {
    /// Every kind.
    pub const ALL: [IdKind; 6] = [
        IdKind::CnResident,
        IdKind::UsSsn,
        IdKind::Passport,
        IdKind::HkMacauPermit,
        IdKind::TwPermit,
        IdKind::EuNationalId,
    ];

    /// The snake_case name (the values of an `id_kind` field).
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::CnResident => "cn_resident",
            IdKind::UsSsn => "us_ssn",
            IdKind::Passport => "passport",
            IdKind::HkMacauPermit => "hk_macau_permit",
            IdKind::TwPermit => "tw_permit",
            IdKind::EuNationalId => "eu_national_id",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<IdKind> {
        IdKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    /// Every name, for messages.
    pub fn names() -> String {
        IdKind::ALL.map(IdKind::as_str).join(", ")
    }
}

/// Countries whose national identity numbers are validated (EU).
pub const EU_CHECKED: &[&str] = &["ES", "NL", "BE", "SE"];

/// What a record says about how to read its values: its country (ISO
/// 3166-1 alpha-2, upper case) and the kind of its identity document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordContext {
    /// The customer's country, from a `country` field or the region of a
    /// `locale` such as `en_US`.
    pub country: Option<String>,
    /// The kind of the identity document, from an `id_kind` field.
    pub id_kind: Option<IdKind>,
}

impl RecordContext {
    /// The context of a record's raw values: `country`, else the region of
    /// `locale`; `id_kind`. Values that do not parse are left out here (the
    /// fields' own validators refuse them).
    pub fn from_values<'a>(get: impl Fn(&str) -> Option<&'a str>) -> RecordContext {
        // Read as the fields' validators will store them (full-width
        // letters folded), so the kind checked is the kind stored.
        let folded = |k: &str| get(k).map(|v| crate::normalize::fold_width(v).trim().to_owned());
        let country = folded("country")
            .map(|c| c.to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
            .or_else(|| {
                folded("locale").and_then(|l| {
                    let region = l.rsplit(['_', '-']).next()?;
                    (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
                        .then(|| region.to_ascii_uppercase())
                })
            });
        RecordContext {
            country,
            id_kind: folded("id_kind").as_deref().and_then(IdKind::parse),
        }
    }

    /// Whether a change to these fields changes the context.
    pub fn depends_on(field: &str) -> bool {
        matches!(field, "country" | "locale" | "id_kind")
    }

    /// The kind a document number is read as in this context.
    pub fn kind_of(&self, compact: &str) -> Result<IdKind, ValidationError> {
        if let Some(k) = self.id_kind {
            return Ok(k);
        }
        match self.country.as_deref() {
            None | Some("CN") => Ok(IdKind::CnResident),
            Some("US") => Ok(IdKind::UsSsn),
            Some(c) if EU_CHECKED.contains(&c) => Ok(IdKind::EuNationalId),
            // A resident-ID shape is one whatever the country says.
            _ if compact.len() == 18 => Ok(IdKind::CnResident),
            _ => Err(ValidationError::IdKindNeeded),
        }
    }
}

/// Validate and normalize an identity-document number of `kind`.
pub fn check(kind: IdKind, v: &str, country: Option<&str>, today: NaiveDate) -> Result<String, ValidationError> {
    let compact = strip_separators(v).to_ascii_uppercase();
    match kind {
        IdKind::CnResident => cn_resident(&compact, today),
        IdKind::UsSsn => us_ssn(&compact),
        IdKind::Passport => passport(&compact),
        IdKind::HkMacauPermit => {
            let b = compact.as_bytes();
            let ok = matches!(b.first(), Some(b'H' | b'M'))
                && matches!(b.len(), 9 | 11)
                && b[1..].iter().all(u8::is_ascii_digit);
            ok.then_some(compact)
                .ok_or(ValidationError::IdFormat("hk_macau_permit: H or M and 8 or 10 digits"))
        }
        IdKind::TwPermit => {
            let ok = matches!(compact.len(), 8 | 10) && compact.bytes().all(|b| b.is_ascii_digit());
            ok.then_some(compact)
                .ok_or(ValidationError::IdFormat("tw_permit: 8 or 10 digits"))
        }
        IdKind::EuNationalId => match country {
            Some("ES") => es_dni(&compact),
            Some("NL") => nl_bsn(&compact),
            Some("BE") => be_nrn(&compact),
            Some("SE") => se_pnr(&compact),
            _ => Err(ValidationError::IdCountry),
        },
    }
}

/// The form of a document number the suppression list keys: its letters
/// and digits, upper case, whatever its kind (so the same number recorded
/// under another kind is still the same number).
pub fn suppression_form(normalized: &str) -> String {
    normalized
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The forms a searched number may be stored in: one per kind that accepts
/// it (a search has no record to take the kind from).
pub fn search_forms(v: &str, today: NaiveDate) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kind in IdKind::ALL {
        let countries: &[Option<&str>] = if kind == IdKind::EuNationalId {
            &[Some("ES"), Some("NL"), Some("BE"), Some("SE")]
        } else {
            &[None]
        };
        for c in countries {
            if let Ok(n) = check(kind, v, *c, today) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// Province-level codes of GB/T 2260 (first two digits of a region code),
/// plus 81, 82 and 83 for residence permits of Hong Kong, Macau and Taiwan
/// residents.
pub(crate) const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82, 83,
];

fn cn_resident(v: &str, today: NaiveDate) -> Result<String, ValidationError> {
    let b = v.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(ValidationError::NationalIdFormat);
    }
    let province = (b[0] - b'0') * 10 + (b[1] - b'0');
    if !PROVINCES.contains(&province) {
        return Err(ValidationError::NationalIdRegion);
    }
    let year: i32 = v[6..10].parse().map_err(|_| ValidationError::NationalIdBirthDate)?;
    let month: u32 = v[10..12].parse().map_err(|_| ValidationError::NationalIdBirthDate)?;
    let day: u32 = v[12..14].parse().map_err(|_| ValidationError::NationalIdBirthDate)?;
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) if year >= 1900 && d <= today => {}
        _ => return Err(ValidationError::NationalIdBirthDate),
    }
    if cn_id_check_char(&b[..17]) != b[17] {
        return Err(ValidationError::NationalIdChecksum);
    }
    Ok(v.to_owned())
}

/// `123-45-6789`: 9 digits in SSA's structure (never-issued areas, group 00
/// and serial 0000 refused). Normalized with its dashes.
fn us_ssn(v: &str) -> Result<String, ValidationError> {
    let b = v.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return Err(ValidationError::IdFormat("us_ssn: 9 digits, written 123-45-6789"));
    }
    let area: u32 = v[..3].parse().unwrap_or(0);
    let group: u32 = v[3..5].parse().unwrap_or(0);
    let serial: u32 = v[5..].parse().unwrap_or(0);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return Err(ValidationError::IdStructure(
            "us_ssn: area 000, 666 and 900-999, group 00 and serial 0000 are never issued",
        ));
    }
    Ok(format!("{}-{}-{}", &v[..3], &v[3..5], &v[5..]))
}

fn passport(v: &str) -> Result<String, ValidationError> {
    let ok = (6..=9).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && v.bytes().any(|b| b.is_ascii_digit());
    ok.then(|| v.to_owned())
        .ok_or(ValidationError::IdFormat("passport: 6 to 9 letters and digits"))
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spain: DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits, a
/// letter); the letter is the number mod 23.
fn es_dni(v: &str) -> Result<String, ValidationError> {
    let b = v.as_bytes();
    if b.len() != 9 || !b[8].is_ascii_uppercase() {
        return Err(ValidationError::IdFormat(
            "ES DNI/NIE: 8 digits and a letter, or X/Y/Z, 7 digits and a letter",
        ));
    }
    let lead = match b[0] {
        b'X' => Some(b'0'),
        b'Y' => Some(b'1'),
        b'Z' => Some(b'2'),
        d if d.is_ascii_digit() => Some(d),
        _ => None,
    };
    let digits: Option<Vec<u8>> = lead.map(|l| std::iter::once(l).chain(b[1..8].iter().copied()).collect());
    let Some(digits) = digits.filter(|d| d.iter().all(u8::is_ascii_digit)) else {
        return Err(ValidationError::IdFormat(
            "ES DNI/NIE: 8 digits and a letter, or X/Y/Z, 7 digits and a letter",
        ));
    };
    let n: u32 = std::str::from_utf8(&digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if DNI_LETTERS[(n % 23) as usize] != b[8] {
        return Err(ValidationError::IdChecksum(
            "ES DNI/NIE: the letter is the number mod 23",
        ));
    }
    Ok(v.to_owned())
}

/// The Netherlands: BSN, 9 digits passing the eleven test
/// (9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 mod 11).
fn nl_bsn(v: &str) -> Result<String, ValidationError> {
    let b = v.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return Err(ValidationError::IdFormat("NL BSN: 9 digits"));
    }
    let d: Vec<i64> = b.iter().map(|x| (x - b'0') as i64).collect();
    let sum: i64 = (0..8).map(|i| (9 - i as i64) * d[i]).sum::<i64>() - d[8];
    if sum % 11 != 0 || sum == 0 {
        return Err(ValidationError::IdChecksum("NL BSN: the eleven test fails"));
    }
    Ok(v.to_owned())
}

/// Belgium: national register number YYMMDD SSS CC, CC = 97 − (the first
/// nine digits mod 97), with 2 prefixed for people born from 2000.
fn be_nrn(v: &str) -> Result<String, ValidationError> {
    let b = v.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return Err(ValidationError::IdFormat("BE national number: 11 digits"));
    }
    let first: u64 = v[..9].parse().unwrap_or(0);
    let check: u64 = v[9..].parse().unwrap_or(0);
    let ok = 97 - first % 97 == check || 97 - (2_000_000_000 + first) % 97 == check;
    if !ok {
        return Err(ValidationError::IdChecksum(
            "BE national number: the check is 97 minus the rest mod 97",
        ));
    }
    Ok(v.to_owned())
}

/// Sweden: personnummer YYMMDD-NNNC (or with the century), Luhn over the
/// ten digits. Normalized as YYMMDD-NNNC.
fn se_pnr(v: &str) -> Result<String, ValidationError> {
    let digits: String = v.chars().filter(|c| c.is_ascii_digit()).collect();
    let ten = match digits.len() {
        10 => digits,
        12 => digits[2..].to_owned(),
        _ => return Err(ValidationError::IdFormat("SE personnummer: YYMMDD-NNNC")),
    };
    if !crate::validate::luhn_valid(ten.as_bytes()) {
        return Err(ValidationError::IdChecksum("SE personnummer: the Luhn check fails"));
    }
    Ok(format!("{}-{}", &ten[..6], &ten[6..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    #[test]
    fn known_answers_per_kind() {
        let cases: &[(IdKind, Option<&str>, &str, Result<&str, &str>)] = &[
            (IdKind::CnResident, None, "11010519491231002x", Ok("11010519491231002X")),
            (
                IdKind::CnResident,
                None,
                "110105194912310021",
                Err("national_id_checksum"),
            ),
            (IdKind::UsSsn, None, "123-45-6789", Ok("123-45-6789")),
            (IdKind::UsSsn, None, "123 45 6789", Ok("123-45-6789")),
            (IdKind::UsSsn, None, "666-45-6789", Err("id_structure")),
            (IdKind::UsSsn, None, "900-45-6789", Err("id_structure")),
            (IdKind::UsSsn, None, "123-00-6789", Err("id_structure")),
            (IdKind::UsSsn, None, "123-45-0000", Err("id_structure")),
            (IdKind::UsSsn, None, "12-345-678", Err("id_format")),
            (IdKind::Passport, None, "e12345678", Ok("E12345678")),
            (IdKind::Passport, None, "ABCDEF", Err("id_format")),
            (IdKind::HkMacauPermit, None, "H12345678", Ok("H12345678")),
            (IdKind::HkMacauPermit, None, "K12345678", Err("id_format")),
            (IdKind::TwPermit, None, "12345678", Ok("12345678")),
            // Spain: 12345678Z is the textbook DNI; X1234567L an NIE.
            (IdKind::EuNationalId, Some("ES"), "12345678z", Ok("12345678Z")),
            (IdKind::EuNationalId, Some("ES"), "12345678A", Err("id_checksum")),
            (IdKind::EuNationalId, Some("ES"), "X1234567L", Ok("X1234567L")),
            // The Netherlands: 111222333 passes the eleven test.
            (IdKind::EuNationalId, Some("NL"), "111222333", Ok("111222333")),
            (IdKind::EuNationalId, Some("NL"), "111222334", Err("id_checksum")),
            // Belgium: 85.07.30-033.28 (born 1985), 17.07.30-033.84 (born 2017).
            (IdKind::EuNationalId, Some("BE"), "85.07.30-033.28", Ok("85073003328")),
            (IdKind::EuNationalId, Some("BE"), "17073003384", Ok("17073003384")),
            (IdKind::EuNationalId, Some("BE"), "85073003329", Err("id_checksum")),
            // Sweden: 811228-9874 is Skatteverket's example.
            (IdKind::EuNationalId, Some("SE"), "19811228-9874", Ok("811228-9874")),
            (IdKind::EuNationalId, Some("SE"), "811228-9875", Err("id_checksum")),
            (IdKind::EuNationalId, Some("FR"), "1234567890123", Err("id_country")),
        ];
        for (kind, country, input, want) in cases {
            let got = check(*kind, input, *country, today());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w, "{kind:?} {input}"),
                (Err(e), Err(w)) => assert_eq!(e.code(), *w, "{kind:?} {input}: {e}"),
                (g, w) => panic!("{kind:?} {input}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn the_record_says_which_kind() {
        let ctx = |pairs: &[(&str, &str)]| {
            RecordContext::from_values(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v))
        };
        assert_eq!(ctx(&[]).kind_of("x"), Ok(IdKind::CnResident), "the default stays");
        assert_eq!(ctx(&[("locale", "en_US")]).kind_of("123456789"), Ok(IdKind::UsSsn));
        assert_eq!(ctx(&[("country", "us")]).country.as_deref(), Some("US"));
        assert_eq!(
            ctx(&[("country", "ＵＳ")]).country.as_deref(),
            Some("US"),
            "full width, as stored"
        );
        assert_eq!(ctx(&[("id_kind", "ｐａｓｓｐｏｒｔ")]).id_kind, Some(IdKind::Passport));
        assert_eq!(suppression_form("123-45-6789"), suppression_form("123456789"));
        assert_eq!(suppression_form("811228-9874"), "8112289874");
        assert_eq!(
            ctx(&[("locale", "en_US"), ("id_kind", "passport")]).kind_of("x"),
            Ok(IdKind::Passport)
        );
        assert_eq!(ctx(&[("country", "NL")]).kind_of("111222333"), Ok(IdKind::EuNationalId));
        assert_eq!(
            ctx(&[("country", "JP")]).kind_of("AB1234567"),
            Err(ValidationError::IdKindNeeded)
        );
        assert_eq!(
            ctx(&[("country", "JP")]).kind_of("11010519491231002X"),
            Ok(IdKind::CnResident)
        );
        for k in IdKind::ALL {
            assert_eq!(IdKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn a_search_tries_every_kind_that_reads_the_number() {
        let forms = search_forms("123-45-6789", today());
        assert!(forms.contains(&"123-45-6789".to_owned()), "{forms:?}");
        assert!(
            forms.contains(&"123456789".to_owned()),
            "as a passport or BSN too: {forms:?}"
        );
        assert_eq!(search_forms("11010519491231002X", today()), vec!["11010519491231002X"]);
        assert!(search_forms("not a number", today()).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn every_kind_is_total_and_idempotent(v in "\\PC{0,24}", k in 0usize..6, c in 0usize..5) {
            let kind = IdKind::ALL[k];
            let country = [None, Some("ES"), Some("NL"), Some("BE"), Some("SE")][c];
            if let Ok(n) = check(kind, &v, country, today()) {
                proptest::prop_assert_eq!(check(kind, &n, country, today()), Ok(n.clone()));
            }
        }

        #[test]
        fn valid_ssns_round_trip(area in 1u32..900, group in 1u32..100, serial in 1u32..10000) {
            proptest::prop_assume!(area != 666);
            let s = format!("{area:03}{group:02}{serial:04}");
            let n = check(IdKind::UsSsn, &s, None, today()).unwrap();
            proptest::prop_assert_eq!(n.replace('-', ""), s);
        }
    }
}
