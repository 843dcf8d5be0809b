//! Validators and normalizers, one per field type.
//!
//! A value is first normalized (width folding, separators, case) and then
//! checked; the normalized form is what gets encrypted, indexed and masked,
//! so `１３８-0013-8000` and `+86 138 0013 8000` are the same phone number.
//! Errors name the rule that failed and never echo the value: they end up
//! in logs and reject files.

use crate::iddoc::{self, IdKind, RecordContext};
use crate::normalize::{collapse_spaces, fold_width, strip_separators};
use crate::schema::{FieldDef, FieldType};
use chrono::{Datelike, NaiveDate};

/// Why a value was refused. Each variant has a stable code (see
/// [`ValidationError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Nothing left after trimming.
    #[error("is empty")]
    Empty,
    /// Longer than the field allows.
    #[error("is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Control characters or characters the type never contains.
    #[error("contains characters not allowed in a {0}")]
    BadCharacters(&'static str),
    /// A resident ID that is not 18 characters of 17 digits and a check digit.
    #[error("is not 18 characters: 17 digits and a check digit (0-9 or X) (GB 11643-1999)")]
    NationalIdFormat,
    /// The region code's province part does not exist.
    #[error("has an unknown province code in its region code (GB/T 2260)")]
    NationalIdRegion,
    /// The embedded birth date is not a real past date.
    #[error("has an impossible birth date")]
    NationalIdBirthDate,
    /// The check digit does not match (ISO 7064 MOD 11-2).
    #[error("has a wrong check digit (GB 11643-1999, ISO 7064 MOD 11-2)")]
    NationalIdChecksum,
    /// Not a valid number for its region (libphonenumber rules).
    #[error("is not a valid phone number for its region")]
    Phone,
    /// Not an addr-spec.
    #[error("is not a valid e-mail address")]
    Email,
    /// Not 12-19 digits.
    #[error("is not 12 to 19 digits")]
    CardLength,
    /// Luhn check failed.
    #[error("fails the Luhn check (ISO/IEC 7812-1)")]
    CardLuhn,
    /// Not YYYY-MM-DD (or an accepted variant).
    #[error("is not a date written YYYY-MM-DD")]
    DateFormat,
    /// Before 1900 or in the future.
    #[error("is outside 1900-01-01 to today")]
    DateRange,
    /// Not in the field's closed list.
    #[error("is not one of: {0}")]
    NotAllowed(String),
    /// An identity document whose kind the record does not say.
    #[error(
        "is an identity document of a kind the record does not say: set id_kind to one of {}",
        crate::iddoc::IdKind::names()
    )]
    IdKindNeeded,
    /// An identity document not shaped as its kind's.
    #[error("is not shaped as {0}")]
    IdFormat(&'static str),
    /// An identity document number of a structure never issued.
    #[error("is not a number that is issued ({0})")]
    IdStructure(&'static str),
    /// An identity document whose check digit does not match.
    #[error("has a wrong check character ({0})")]
    IdChecksum(&'static str),
    /// An EU national identity number of a country without a validator.
    #[error("is an EU national identity number of a country whose format Custodia does not check (it checks ES, NL, BE, SE); record a passport instead")]
    IdCountry,
    /// Not an ISO 3166-1 alpha-2 country code.
    #[error("is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, DE)")]
    Country,
}

impl ValidationError {
    /// A stable, machine-readable code for this rule.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::Empty => "empty",
            ValidationError::TooLong { .. } => "too_long",
            ValidationError::BadCharacters(_) => "bad_characters",
            ValidationError::NationalIdFormat => "national_id_format",
            ValidationError::NationalIdRegion => "national_id_region",
            ValidationError::NationalIdBirthDate => "national_id_birth_date",
            ValidationError::NationalIdChecksum => "national_id_checksum",
            ValidationError::Phone => "phone_invalid",
            ValidationError::Email => "email_invalid",
            ValidationError::CardLength => "card_length",
            ValidationError::CardLuhn => "card_luhn",
            ValidationError::DateFormat => "date_format",
            ValidationError::DateRange => "date_range",
            ValidationError::NotAllowed(_) => "not_allowed",
            ValidationError::IdKindNeeded => "id_kind_needed",
            ValidationError::IdFormat(_) => "id_format",
            ValidationError::IdStructure(_) => "id_structure",
            ValidationError::IdChecksum(_) => "id_checksum",
            ValidationError::IdCountry => "id_country",
            ValidationError::Country => "country",
        }
    }
}

/// Validates and normalizes values for a schema.
#[derive(Debug, Clone)]
pub struct Validator {
    region: phonenumber::country::Id,
    today: NaiveDate,
}

impl Validator {
    /// A validator reading national phone numbers as `default_region` and
    /// refusing dates after `today` (passed in: this crate reads no clock).
    pub fn new(default_region: &str, today: NaiveDate) -> Validator {
        let region = default_region.parse().unwrap_or(phonenumber::country::Id::CN);
        Validator { region, today }
    }

    /// Normalize and validate `raw` for field `f`, returning the canonical
    /// form to store, index and mask (read without a record's context:
    /// phone numbers in the default region, documents as resident IDs).
    pub fn check(&self, f: &FieldDef, raw: &str) -> Result<String, ValidationError> {
        self.check_in(f, raw, &RecordContext::default())
    }

    /// [`Validator::check`] within a record: its country is the region of
    /// a phone number written without `+`, and it and `id_kind` say what an
    /// identity document is.
    pub fn check_in(&self, f: &FieldDef, raw: &str, ctx: &RecordContext) -> Result<String, ValidationError> {
        let v = fold_width(raw);
        if v.is_empty() {
            return Err(ValidationError::Empty);
        }
        match f.kind {
            FieldType::PersonName => person_name(&v),
            FieldType::CnNationalId => iddoc::check(IdKind::CnResident, &v, None, self.today),
            FieldType::IdDocument => {
                let compact = strip_separators(&v).to_ascii_uppercase();
                let kind = ctx.kind_of(&compact)?;
                iddoc::check(kind, &v, ctx.country.as_deref(), self.today)
            }
            FieldType::Country => {
                let c = v.trim().to_ascii_uppercase();
                match c.parse::<phonenumber::country::Id>() {
                    Ok(_) if c.len() == 2 => Ok(c),
                    _ => Err(ValidationError::Country),
                }
            }
            FieldType::Phone => {
                let region = ctx
                    .country
                    .as_deref()
                    .and_then(|c| c.parse::<phonenumber::country::Id>().ok())
                    .unwrap_or(self.region);
                self.phone(&v, region)
            }
            FieldType::Email => email(&v),
            FieldType::BankCard => bank_card(&v),
            FieldType::Address => bounded_text(&collapse_spaces(&v), 300, "address"),
            FieldType::Date => date(&v, self.today),
            FieldType::Text => match &f.allowed {
                Some(list) => {
                    let t = bounded_text(&collapse_spaces(&v), f.max_len.unwrap_or(200), "text")?;
                    if list.iter().any(|a| a == &t) {
                        Ok(t)
                    } else {
                        Err(ValidationError::NotAllowed(list.join(", ")))
                    }
                }
                // Free text is kept as written (full-width punctuation,
                // spacing, line breaks): only its ends are trimmed.
                None => free_text(raw.trim(), f.max_len.unwrap_or(200)),
            },
        }
    }

    /// Phone numbers: a fast path for Chinese mobiles (checked against the
    /// libphonenumber port by a property test), libphonenumber for the rest.
    /// Output: E.164, with `;ext=N` when an extension was given.
    fn phone(&self, v: &str, region: phonenumber::country::Id) -> Result<String, ValidationError> {
        let (num, ext) = split_extension(v);
        let compact = strip_separators(num);
        if compact.is_empty() || compact.len() > 20 {
            return Err(ValidationError::Phone);
        }
        let e164 = match cn_mobile_fast_path(&compact, region) {
            Some(national) => format!("+86{national}"),
            None => {
                let parsed = phonenumber::parse(Some(region), &compact).map_err(|_| ValidationError::Phone)?;
                if !phonenumber::is_valid(&parsed) {
                    return Err(ValidationError::Phone);
                }
                parsed.format().mode(phonenumber::Mode::E164).to_string()
            }
        };
        match ext {
            Some(e) => Ok(format!("{e164};ext={e}")),
            None => Ok(e164),
        }
    }
}

/// Split `138… ext. 12`, `…#12`, `…转12`, `…分机12` into number and extension.
fn split_extension(v: &str) -> (&str, Option<String>) {
    let lower = v.to_ascii_lowercase();
    for marker in [";ext=", "ext.", "ext", "x", "#", "转", "分机"] {
        if let Some(i) = lower.rfind(marker) {
            let tail = v[i + marker.len()..].trim();
            if !tail.is_empty() && tail.len() <= 8 && tail.bytes().all(|b| b.is_ascii_digit()) {
                return (v[..i].trim(), Some(tail.to_owned()));
            }
        }
    }
    (v, None)
}

/// Chinese mobile numbers in ranges every libphonenumber release accepts;
/// returns the 11-digit national number. Anything else goes the slow path.
pub fn cn_mobile_fast_path(compact: &str, region: phonenumber::country::Id) -> Option<&str> {
    let national = if let Some(r) = compact.strip_prefix("+86") {
        r
    } else if let Some(r) = compact.strip_prefix("0086") {
        r
    } else if compact.len() == 13 && compact.starts_with("86") {
        &compact[2..]
    } else if region == phonenumber::country::Id::CN {
        compact
    } else {
        return None;
    };
    let b = national.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) || b[0] != b'1' {
        return None;
    }
    let ok = match (b[1], b[2]) {
        (b'3', _) | (b'8', _) => true,
        (b'5', d) => d != b'4',
        (b'7', d) => matches!(d, b'3' | b'5' | b'6' | b'7' | b'8'),
        (b'9', d) => matches!(d, b'1' | b'3' | b'5' | b'8' | b'9'),
        _ => false,
    };
    ok.then_some(national)
}

fn bounded_text(v: &str, max: usize, what: &'static str) -> Result<String, ValidationError> {
    if v.chars().any(char::is_control) {
        return Err(ValidationError::BadCharacters(what));
    }
    if v.chars().count() > max {
        return Err(ValidationError::TooLong { max });
    }
    if v.is_empty() {
        return Err(ValidationError::Empty);
    }
    Ok(v.to_owned())
}

fn free_text(v: &str, max: usize) -> Result<String, ValidationError> {
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValidationError::BadCharacters("text"));
    }
    if v.chars().count() > max {
        return Err(ValidationError::TooLong { max });
    }
    if v.is_empty() {
        return Err(ValidationError::Empty);
    }
    Ok(v.to_owned())
}

fn person_name(v: &str) -> Result<String, ValidationError> {
    let v = collapse_spaces(v);
    let v = bounded_text(&v, 100, "name")?;
    let ok = v
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '·' | '•' | '.' | '-' | '\'' | '’'));
    if !ok {
        return Err(ValidationError::BadCharacters("name"));
    }
    Ok(v)
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643-1999 check character for the first 17 digits.
pub fn cn_id_check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(d, w)| (d - b'0') as u32 * w).sum();
    ID_CHECK[(sum % 11) as usize]
}

fn email(v: &str) -> Result<String, ValidationError> {
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::Email);
    }
    let lower = v.to_lowercase();
    let parsed = email_address::EmailAddress::parse_with_options(
        &lower,
        email_address::Options::default().without_display_text(),
    )
    .map_err(|_| ValidationError::Email)?;
    // A public mail domain has at least one dot and no bracketed literal.
    let domain = parsed.domain();
    if !domain.contains('.') || domain.starts_with('[') || domain.ends_with('.') {
        return Err(ValidationError::Email);
    }
    Ok(lower)
}

/// The Luhn (ISO/IEC 7812-1) check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut x = (d - b'0') as u32;
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum.is_multiple_of(10)
}

fn bank_card(v: &str) -> Result<String, ValidationError> {
    let v = strip_separators(v);
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::BadCharacters("bank card number"));
    }
    if !(12..=19).contains(&v.len()) {
        return Err(ValidationError::CardLength);
    }
    if !luhn_valid(v.as_bytes()) {
        return Err(ValidationError::CardLuhn);
    }
    Ok(v)
}

fn date(v: &str, today: NaiveDate) -> Result<String, ValidationError> {
    let t = v.replace(['年', '月', '/', '.'], "-").replace('日', "");
    let parsed = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(&t, "%Y%m%d")
    } else {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d")
    }
    .map_err(|_| ValidationError::DateFormat)?;
    if parsed.year() < 1900 || parsed > today {
        return Err(ValidationError::DateRange);
    }
    Ok(parsed.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn check(field: &str, v: &str) -> Result<String, ValidationError> {
        let s = Schema::default_schema();
        Validator::new("CN", today()).check(s.field(field).unwrap(), v)
    }

    /// Build a valid ID from 17 digits by computing its check character.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", cn_id_check_char(first17.as_bytes()) as char)
    }

    #[test]
    fn national_id_known_answers() {
        // Example from GB 11643-1999 Annex A: 11010519491231002X.
        assert_eq!(
            check("national_id", "11010519491231002X").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            check("national_id", "11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        // Widely published sample: 440524188001010014 (Guangdong, 1880).
        assert_eq!(
            check("national_id", "440524188001010014"),
            Err(ValidationError::NationalIdBirthDate)
        );
        assert_eq!(
            check("national_id", "110105194912310021"),
            Err(ValidationError::NationalIdChecksum)
        );
        assert_eq!(
            check("national_id", "11010519491231002"),
            Err(ValidationError::NationalIdFormat)
        );
        assert_eq!(
            check("national_id", "99010519491231002X"),
            Err(ValidationError::NationalIdRegion)
        );
        assert_eq!(
            check("national_id", &with_check("11010519490230002")),
            Err(ValidationError::NationalIdBirthDate)
        );
        assert_eq!(
            check("national_id", &with_check("11010520991231002")),
            Err(ValidationError::NationalIdBirthDate)
        );
        // Full-width digits and spaces are folded first.
        assert_eq!(
            check("national_id", "１１０１０５ １９４９１２３１ ００２Ｘ").unwrap(),
            "11010519491231002X"
        );
    }

    #[test]
    fn phone_known_answers() {
        let ok: &[(&str, &str)] = &[
            ("13800138000", "+8613800138000"),
            ("+86 138 0013 8000", "+8613800138000"),
            ("0086-138-0013-8000", "+8613800138000"),
            ("１３８００１３８０００", "+8613800138000"),
            ("8613800138000", "+8613800138000"),
            ("19912345678", "+8619912345678"),
            ("010-6552 1234", "+861065521234"),
            ("+1 650-253-0000", "+16502530000"),
            ("+44 20 7946 0958", "+442079460958"),
            ("010-6552 1234 转 8021", "+861065521234;ext=8021"),
            ("+1 650 253 0000 ext. 12", "+16502530000;ext=12"),
        ];
        for (input, want) in ok {
            assert_eq!(check("mobile", input).as_deref(), Ok(*want), "{input}");
        }
        for bad in [
            "12345",
            "1380013800",
            "+86 123",
            "phone",
            "+999 1234567",
            "138001380001234567890",
        ] {
            assert_eq!(check("mobile", bad), Err(ValidationError::Phone), "{bad}");
        }
    }

    #[test]
    fn email_known_answers() {
        assert_eq!(
            check("email", "Zhang.San@Example.COM").unwrap(),
            "zhang.san@example.com"
        );
        assert_eq!(check("email", "ｌｉ＠ｅｘａｍｐｌｅ．ｃｎ").unwrap(), "li@example.cn");
        for bad in [
            "plainaddress",
            "a@b",
            "a b@example.com",
            "@example.com",
            "a@example.com.",
            "a@[127.0.0.1]",
            "Name <a@example.com>",
        ] {
            assert_eq!(check("email", bad), Err(ValidationError::Email), "{bad}");
        }
    }

    #[test]
    fn card_known_answers() {
        assert_eq!(check("bank_card", "4111 1111 1111 1111").unwrap(), "4111111111111111");
        // UnionPay 19-digit test number.
        assert_eq!(
            check("bank_card", "6212345678901234567").map(|_| ()),
            if luhn_valid(b"6212345678901234567") {
                Ok(())
            } else {
                Err(ValidationError::CardLuhn)
            }
        );
        assert_eq!(
            check("bank_card", "6222 0200 0000 0000 008").map(|_| ()),
            if luhn_valid(b"6222020000000000008") {
                Ok(())
            } else {
                Err(ValidationError::CardLuhn)
            }
        );
        assert_eq!(check("bank_card", "4111111111111112"), Err(ValidationError::CardLuhn));
        assert_eq!(check("bank_card", "41111111111"), Err(ValidationError::CardLength));
        assert_eq!(
            check("bank_card", "41111111111111111111"),
            Err(ValidationError::CardLength)
        );
        assert_eq!(
            check("bank_card", "4111-1111-1111-111a"),
            Err(ValidationError::BadCharacters("bank card number"))
        );
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(luhn_valid(b"6250941006528599"), "UnionPay test card");
    }

    #[test]
    fn date_and_text_known_answers() {
        assert_eq!(check("birth_date", "1990-03-07").unwrap(), "1990-03-07");
        assert_eq!(check("birth_date", "1990/3/7").unwrap(), "1990-03-07");
        assert_eq!(check("birth_date", "1990年3月7日").unwrap(), "1990-03-07");
        assert_eq!(check("birth_date", "19900307").unwrap(), "1990-03-07");
        assert_eq!(check("birth_date", "1990-02-30"), Err(ValidationError::DateFormat));
        assert_eq!(check("birth_date", "1899-12-31"), Err(ValidationError::DateRange));
        assert_eq!(check("birth_date", "2030-01-01"), Err(ValidationError::DateRange));
        assert_eq!(check("segment", "vip").unwrap(), "vip");
        assert!(matches!(
            check("segment", "platinum"),
            Err(ValidationError::NotAllowed(_))
        ));
        assert_eq!(check("name", "  张三 "), Ok("张三".into()));
        assert_eq!(check("name", "Mary-Jane O'Neil"), Ok("Mary-Jane O'Neil".into()));
        assert_eq!(check("name", "阿卜杜·热合曼"), Ok("阿卜杜·热合曼".into()));
        assert_eq!(check("name", "R2D2"), Err(ValidationError::BadCharacters("name")));
        assert_eq!(check("name", "   "), Err(ValidationError::Empty));
        assert_eq!(
            check("address", "a\u{0007}b"),
            Err(ValidationError::BadCharacters("address"))
        );
        assert_eq!(
            check("address", &"路".repeat(301)),
            Err(ValidationError::TooLong { max: 300 })
        );
        // Free text is kept as written; a closed list still folds.
        assert_eq!(
            check("notes", " 已回电，客户说：  下周再联系\n第二行 "),
            Ok("已回电，客户说：  下周再联系\n第二行".into())
        );
        assert_eq!(
            check("notes", "a\u{0007}b"),
            Err(ValidationError::BadCharacters("text"))
        );
        assert_eq!(check("segment", "ｖｉｐ").unwrap(), "vip");
    }

    #[test]
    fn values_are_read_in_their_record_country() {
        let s = Schema::default_schema();
        let v = Validator::new("CN", today());
        let us = RecordContext {
            country: Some("US".into()),
            id_kind: None,
        };
        let phone = s.field("mobile").unwrap();
        // Written without +1: a US number in a US record; without the
        // record's country the same digits are a landline in Dandong.
        assert_eq!(v.check_in(phone, "(415) 555-2671", &us).unwrap(), "+14155552671");
        assert_eq!(v.check(phone, "(415) 555-2671").unwrap(), "+864155552671");
        // With + the country does not matter; a Chinese mobile stays one.
        assert_eq!(v.check_in(phone, "+86 138 0013 8000", &us).unwrap(), "+8613800138000");
        let id = s.field("national_id").unwrap();
        assert_eq!(v.check_in(id, "123-45-6789", &us).unwrap(), "123-45-6789");
        assert_eq!(
            v.check(id, "123-45-6789").unwrap_err(),
            ValidationError::NationalIdFormat
        );
        let passport = RecordContext {
            id_kind: Some(IdKind::Passport),
            ..us.clone()
        };
        assert_eq!(v.check_in(id, "E12345678", &passport).unwrap(), "E12345678");
        let country = s.field("country").unwrap();
        assert_eq!(v.check(country, " us ").unwrap(), "US");
        assert_eq!(v.check(country, "XX").unwrap_err(), ValidationError::Country);
        assert_eq!(v.check(country, "USA").unwrap_err(), ValidationError::Country);
    }

    #[test]
    fn errors_never_echo_values() {
        let secret = "13999999999999";
        let e = check("mobile", secret).unwrap_err();
        assert!(!e.to_string().contains(secret));
    }

    proptest! {
        /// Any 17 digits with a valid province and date plus the computed
        /// check character validate; flipping the check character fails.
        #[test]
        fn national_id_round_trip(p in proptest::sample::select(crate::iddoc::PROVINCES), rest in "[0-9]{4}", y in 1900u32..2020, m in 1u32..13, d in 1u32..29, seq in "[0-9]{3}") {
            let first17 = format!("{p:02}{rest}{y:04}{m:02}{d:02}{seq}");
            let id = with_check(&first17);
            prop_assert_eq!(check("national_id", &id).unwrap(), id.clone());
            let wrong = if id.ends_with('0') { '1' } else { '0' };
            let bad = format!("{first17}{wrong}");
            prop_assert_eq!(check("national_id", &bad), Err(ValidationError::NationalIdChecksum));
        }

        /// The Chinese-mobile fast path never accepts what libphonenumber rejects.
        #[test]
        fn cn_fast_path_agrees_with_libphonenumber(n in "1[3-9][0-9]{9}") {
            if cn_mobile_fast_path(&n, phonenumber::country::Id::CN).is_some() {
                let parsed = phonenumber::parse(Some(phonenumber::country::Id::CN), &n).unwrap();
                prop_assert!(phonenumber::is_valid(&parsed), "{} accepted by fast path only", n);
                prop_assert_eq!(parsed.format().mode(phonenumber::Mode::E164).to_string(), format!("+86{n}"));
            }
        }

        /// Luhn: appending the right check digit always validates.
        #[test]
        fn luhn_completion(body in "[0-9]{11,18}") {
            let ok = (0..10u8).filter(|c| luhn_valid(format!("{body}{c}").as_bytes())).count();
            prop_assert_eq!(ok, 1);
        }

        /// Validators never panic, whatever the input.
        #[test]
        fn validators_are_total(v in "\\PC{0,64}") {
            let s = Schema::default_schema();
            let val = Validator::new("CN", today());
            for f in s.fields() {
                let _ = val.check(f, &v);
            }
        }

        /// Normalization is idempotent: a normalized value validates to itself.
        #[test]
        fn normalization_is_a_fixed_point(n in "1[38][0-9]{9}") {
            let once = check("mobile", &n).unwrap();
            prop_assert_eq!(check("mobile", &once).unwrap(), once.clone());
        }
    }
}
