//! Personal-information detection in free text, Chinese and English.
//!
//! One pass over the normalized bytes finds candidate numbers and
//! identifiers (digit runs with separators, `+` numbers, e-mail addresses
//! around `@`, IBANs, passport numbers, IP addresses) and validates each
//! with its checksum or structure (GB 11643 check digit and birth date,
//! Luhn, IBAN mod 97, SSN ranges, libphonenumber for international
//! numbers). One Aho-Corasick pass finds dictionary words (surnames are
//! checked per character) for what has no checksum: names and addresses,
//! anchored on context words, honorifics, places and street suffixes.
//! Context words near a number raise its score. Boundaries are "not an
//! ASCII letter or digit", so a number right next to Chinese characters is
//! still found (a plain `\b` would not do).

use crate::dict::{dict, Word};
use crate::normalize::{normalize, OffsetMap};
use serde::Serialize;

/// A kind of personal information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Chinese resident identity number (GB 11643; 18 or legacy 15 digits).
    CnId,
    /// Chinese mobile number.
    CnMobile,
    /// Chinese landline with area code.
    CnLandline,
    /// Payment card (Luhn, 16–19 digits).
    BankCard,
    /// E-mail address.
    Email,
    /// International phone number (+ country code).
    Phone,
    /// IBAN (mod 97).
    Iban,
    /// US social security number.
    UsSsn,
    /// Passport number.
    Passport,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// A person's name.
    PersonName,
    /// A postal address.
    Address,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 13] = [
        Kind::CnId,
        Kind::CnMobile,
        Kind::CnLandline,
        Kind::BankCard,
        Kind::Email,
        Kind::Phone,
        Kind::Iban,
        Kind::UsSsn,
        Kind::Passport,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::PersonName,
        Kind::Address,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CnId => "cn_id",
            Kind::CnMobile => "cn_mobile",
            Kind::CnLandline => "cn_landline",
            Kind::BankCard => "bank_card",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Iban => "iban",
            Kind::UsSsn => "us_ssn",
            Kind::Passport => "passport",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::PersonName => "person_name",
            Kind::Address => "address",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Parse a list of names; the refusal names the first unknown one and
    /// lists the accepted names.
    pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Kind>, String> {
        names
            .into_iter()
            .map(str::trim)
            .map(|t| {
                Kind::parse(t).ok_or_else(|| {
                    format!(
                        "unknown type {:?}; the types are: {}",
                        t.chars().take(32).collect::<String>(),
                        Kind::ALL.map(Kind::as_str).join(", ")
                    )
                })
            })
            .collect()
    }

    /// Whether a checksum or structural check validates it.
    pub fn checksummed(self) -> bool {
        matches!(self, Kind::CnId | Kind::BankCard | Kind::Iban)
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What it is.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Start, in characters of the original text.
    pub start: usize,
    /// End (exclusive), in characters.
    pub end: usize,
    /// Start, in bytes of the original text.
    pub byte_start: usize,
    /// End (exclusive), in bytes.
    pub byte_end: usize,
    /// The text found (as written in the original).
    pub text: String,
    /// Confidence, 0–1.
    #[serde(serialize_with = "two_decimals")]
    pub score: f32,
    /// What raised it.
    pub evidence: Vec<&'static str>,
}

/// Scores are heuristics: two decimals say all they mean (and f32 noise
/// such as 0.90000004 stays out of the JSON).
fn two_decimals<S: serde::Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((f64::from(*v) * 100.0).round() / 100.0)
}

/// A finding in normalized byte offsets.
#[derive(Debug, Clone)]
struct Raw {
    kind: Kind,
    s: usize,
    e: usize,
    score: f32,
    evidence: Vec<&'static str>,
}

#[inline]
fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[inline]
fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Chinese province codes that begin a resident ID (GB/T 2260).
fn cn_region_ok(d: &[u8]) -> bool {
    matches!(
        (d[0] - b'0') * 10 + (d[1] - b'0'),
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82
    )
}

fn date_ok(y: u32, m: u32, d: u32) -> bool {
    let today = chrono::Utc::now().date_naive();
    chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_some_and(|x| x <= today && y >= 1900)
}

fn num(d: &[u8]) -> u32 {
    d.iter().fold(0, |a, b| a * 10 + (b - b'0') as u32)
}

fn cn_id18(d: &[u8]) -> bool {
    d.len() == 18
        && d[..17].iter().all(u8::is_ascii_digit)
        && cn_region_ok(d)
        && date_ok(num(&d[6..10]), num(&d[10..12]), num(&d[12..14]))
        && custodia_core::validate::cn_id_check_char(&d[..17]) == d[17].to_ascii_uppercase()
}

fn cn_id15(d: &[u8]) -> bool {
    d.len() == 15 && cn_region_ok(d) && date_ok(1900 + num(&d[6..8]), num(&d[8..10]), num(&d[10..12]))
}

fn cn_mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

fn ssn_ok(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn iban_ok(s: &[u8]) -> bool {
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = match b {
            b'0'..=b'9' => (b - b'0') as u32,
            b'A'..=b'Z' => (b - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A digit run as found: digits, separator shape, and where it ends.
struct Run {
    digits: Vec<u8>,
    groups: Vec<usize>,
    seps: Vec<u8>,
    plus: bool,
    end: usize,
}

/// Collect digits from `i`: groups of digits joined by single separators
/// (`-`, space, `.`, parentheses) or `)` + space.
fn digit_run(b: &[u8], i: usize) -> Run {
    digit_run_with(b, i, true)
}

/// [`digit_run`], with spaces between digit groups taken as separators or
/// (`spaces` false) as the end of the run.
fn digit_run_with(b: &[u8], i: usize, spaces: bool) -> Run {
    let mut j = i;
    let mut run = Run {
        digits: Vec::with_capacity(20),
        groups: Vec::new(),
        seps: Vec::new(),
        plus: false,
        end: i,
    };
    if b[j] == b'(' && b.get(j + 1) == Some(&b'+') {
        // "(+86) 138…"
        run.plus = true;
        j += 2;
    } else if b[j] == b'+' {
        run.plus = true;
        j += 1;
    } else if b[j] == b'(' {
        j += 1;
    }
    let mut group = 0;
    while j < b.len() && run.digits.len() <= 34 {
        let c = b[j];
        if c.is_ascii_digit() {
            run.digits.push(c);
            group += 1;
            j += 1;
            run.end = j;
            continue;
        }
        // A separator counts only between digits.
        let sep_len = match (c, b.get(j + 1)) {
            (b' ', _) if !spaces => 0,
            (b')', Some(b' ')) if !spaces => 0,
            (b')', Some(b' ')) if b.get(j + 2).is_some_and(u8::is_ascii_digit) => 2,
            (b'-' | b' ' | b'.' | b')' | b'(', Some(n)) if n.is_ascii_digit() => 1,
            (b' ', Some(b'(')) if b.get(j + 2).is_some_and(u8::is_ascii_digit) => 2,
            _ => 0,
        };
        if sep_len == 0 || group == 0 {
            break;
        }
        run.groups.push(group);
        run.seps.push(c);
        group = 0;
        j += sep_len;
    }
    if group > 0 {
        run.groups.push(group);
    }
    // The ID check character X.
    if run.digits.len() == 17 && matches!(b.get(run.end), Some(b'X' | b'x')) {
        run.digits.push(b'X');
        run.end += 1;
        if let Some(g) = run.groups.last_mut() {
            *g += 1;
        }
    }
    run
}

struct Scanner<'a> {
    b: &'a [u8],
    out: Vec<Raw>,
}

impl Scanner<'_> {
    fn push(&mut self, kind: Kind, s: usize, e: usize, score: f32, evidence: Vec<&'static str>) {
        self.out.push(Raw {
            kind,
            s,
            e,
            score,
            evidence,
        });
    }

    fn classify_run(&mut self, start: usize, r: &Run) {
        let d = &r.digits;
        let n = d.len();
        let only = |c: u8| r.seps.iter().all(|s| *s == c);
        let groups = &r.groups;
        // IPv4: four dotted groups of 1-3 digits, each at most 255.
        if !r.plus && r.seps.len() == 3 && only(b'.') && groups.iter().all(|g| (1..=3).contains(g)) {
            let mut k = 0;
            let ok = groups.iter().all(|g| {
                let v = num(&d[k..k + g]);
                k += g;
                v <= 255
            });
            if ok {
                self.push(Kind::Ipv4, start, r.end, 0.9, vec!["ipv4_octets"]);
            }
            return;
        }
        if r.seps.contains(&b'.') {
            // Amounts, versions, dates: not personal numbers here.
            return;
        }
        // US SSN written 3-2-4.
        if groups == &[3, 2, 4] && only(b'-') {
            if ssn_ok(num(&d[..3]), num(&d[3..5]), num(&d[5..])) {
                self.push(Kind::UsSsn, start, r.end, 0.85, vec!["ssn_format", "ssn_ranges"]);
            }
            return;
        }
        // IDs are written whole, or 6-8-4 with spaces.
        if n == 18 && (groups.len() <= 1 || (groups == &[6, 8, 4] && only(b' '))) && cn_id18(d) {
            self.push(
                Kind::CnId,
                start,
                r.end,
                0.99,
                vec!["gb11643_checksum", "birth_date", "region_code"],
            );
            return;
        }
        if n == 15 && groups.len() <= 1 && cn_id15(d) {
            self.push(
                Kind::CnId,
                start,
                r.end,
                0.75,
                vec!["legacy_15_digit", "birth_date", "region_code"],
            );
            return;
        }
        if r.plus && n >= 13 && d.starts_with(b"86") && cn_mobile(&d[2..]) && n == 13 {
            self.push(
                Kind::CnMobile,
                start,
                r.end,
                0.95,
                vec!["country_code_86", "mobile_prefix"],
            );
            return;
        }
        if !r.plus && n == 13 && d.starts_with(b"86") && cn_mobile(&d[2..]) {
            self.push(
                Kind::CnMobile,
                start,
                r.end,
                0.8,
                vec!["country_code_86", "mobile_prefix"],
            );
            return;
        }
        if !r.plus && cn_mobile(d) {
            self.push(Kind::CnMobile, start, r.end, 0.9, vec!["mobile_prefix", "length_11"]);
            return;
        }
        if !r.plus && d[0] == b'0' && (10..=12).contains(&n) && groups.len() >= 2 && (3..=4).contains(&groups[0]) {
            self.push(Kind::CnLandline, start, r.end, 0.8, vec!["area_code", "separator"]);
            return;
        }
        // An 18-digit number with a region code and a birth date is a
        // mistyped resident ID far more often than an 18-digit card.
        let id_shaped = n == 18 && cn_region_ok(d) && date_ok(num(&d[6..10]), num(&d[10..12]), num(&d[12..14]));
        if !r.plus && (16..=19).contains(&n) && !id_shaped && custodia_core::validate::luhn_valid(d) {
            let mut ev = vec!["luhn"];
            if d.starts_with(b"62") {
                ev.push("unionpay_bin");
            }
            self.push(Kind::BankCard, start, r.end, 0.95, ev);
            return;
        }
        if r.plus && (8..=15).contains(&n) {
            let text = std::str::from_utf8(&self.b[start..r.end]).unwrap_or("");
            if let Ok(p) = phonenumber::parse(None, text) {
                if phonenumber::is_valid(&p) {
                    self.push(Kind::Phone, start, r.end, 0.9, vec!["libphonenumber"]);
                }
            }
            return;
        }
        if n == 9 && groups.len() == 1 {
            // A bare 9-digit number is a passport only with context (checked later).
            self.push(Kind::Passport, start, r.end, 0.0, vec!["nine_digits"]);
        }
    }

    fn email(&mut self, at: usize) {
        let b = self.b;
        let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        while s < at && !b[s].is_ascii_alphanumeric() {
            s += 1;
        }
        if s == at {
            return;
        }
        let mut e = at + 1;
        let mut dots = 0;
        let mut last_dot = 0;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'-' || b[e] == b'.') {
            if b[e] == b'.' {
                if e + 1 >= b.len() || !b[e + 1].is_ascii_alphanumeric() {
                    break;
                }
                dots += 1;
                last_dot = e;
            }
            e += 1;
        }
        if dots == 0 || e - last_dot < 3 || !b[last_dot + 1..e].iter().all(u8::is_ascii_alphabetic) {
            return;
        }
        self.push(Kind::Email, s, e, 0.95, vec!["email_structure"]);
    }

    /// Letters then digits: IBAN or passport.
    fn alnum_token(&mut self, i: usize) -> usize {
        let b = self.b;
        let mut j = i;
        // IBAN: two letters, two digits, then letters/digits possibly in groups of four.
        if j + 4 <= b.len() && b[j + 1].is_ascii_uppercase() && b[j + 2].is_ascii_digit() && b[j + 3].is_ascii_digit() {
            let mut compact = Vec::with_capacity(34);
            let mut k = j;
            let mut end = j;
            while k < b.len() && compact.len() < 34 {
                let c = b[k];
                if c.is_ascii_digit() || c.is_ascii_uppercase() {
                    compact.push(c);
                    k += 1;
                    end = k;
                } else if c == b' ' && k + 1 < b.len() && (b[k + 1].is_ascii_digit() || b[k + 1].is_ascii_uppercase()) {
                    k += 1;
                } else {
                    break;
                }
            }
            if compact.len() >= 15 && (end >= b.len() || !alnum(b[end])) && iban_ok(&compact) {
                self.push(Kind::Iban, j, end, 0.97, vec!["iban_mod97"]);
                return end;
            }
        }
        // Passport: 1-2 letters then 7-8 digits.
        while j < b.len() && b[j].is_ascii_uppercase() && j - i < 2 {
            j += 1;
        }
        let letters = j - i;
        let ds = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j - ds;
        if (1..=2).contains(&letters)
            && (7..=8).contains(&digits)
            && letters + digits == 9
            && (j >= b.len() || !alnum(b[j]))
        {
            let cn = matches!(b[i], b'E' | b'G' | b'D' | b'S' | b'P');
            let score = if cn { 0.75 } else { 0.0 };
            self.push(
                Kind::Passport,
                i,
                j,
                score,
                vec![if cn { "cn_passport_format" } else { "passport_format" }],
            );
        }
        j.max(i + 1)
    }

    fn ipv6(&mut self, i: usize) -> usize {
        let b = self.b;
        let mut j = i;
        let mut colons = 0;
        while j < b.len() && j - i < 45 && (b[j].is_ascii_hexdigit() || b[j] == b':' || b[j] == b'.') {
            if b[j] == b':' {
                colons += 1;
            }
            j += 1;
        }
        while j > i && b[j - 1] == b'.' {
            j -= 1;
        }
        if colons >= 2 && (j >= b.len() || !alnum(b[j])) {
            if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                if s.parse::<std::net::Ipv6Addr>().is_ok() {
                    self.push(Kind::Ipv6, i, j, 0.9, vec!["ipv6_parse"]);
                    return j;
                }
            }
        }
        i + 1
    }

    fn scan(&mut self) {
        let b = self.b;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let boundary = i == 0 || !alnum(b[i - 1]);
            if c == b'@' {
                self.email(i);
                i += 1;
                continue;
            }
            if !boundary || c >= 0x80 {
                i += 1;
                continue;
            }
            let next_digit = b.get(i + 1).is_some_and(u8::is_ascii_digit);
            let paren_plus = c == b'(' && b.get(i + 1) == Some(&b'+') && b.get(i + 2).is_some_and(u8::is_ascii_digit);
            if c.is_ascii_digit() || ((c == b'+' || c == b'(') && next_digit) || paren_plus {
                // IPv6 that starts with digits ("2001:db8::1").
                if c.is_ascii_digit() {
                    let mut k = i;
                    while k < b.len() && b[k].is_ascii_hexdigit() {
                        k += 1;
                    }
                    if b.get(k) == Some(&b':') && k - i <= 4 {
                        i = self.ipv6(i);
                        continue;
                    }
                }
                let run = digit_run(b, i);
                let after_ok = run.end >= b.len() || !alnum(b[run.end]);
                let found = self.out.len();
                if after_ok && !run.digits.is_empty() {
                    self.classify_run(i, &run);
                }
                if self.out.len() == found && run.seps.contains(&b' ') {
                    // Numbers written one after another with only spaces
                    // between ("13912345678 13987654321"): each alone. A
                    // run cut short mid-number resumes at that number.
                    let mut p = i;
                    let mut resume = None;
                    while p < run.end {
                        let piece = digit_run_with(b, p, false);
                        if piece.digits.is_empty() {
                            p += 1;
                            continue;
                        }
                        if piece.end >= b.len() || !alnum(b[piece.end]) {
                            self.classify_run(p, &piece);
                        } else if piece.end == run.end && p > i {
                            resume = Some(p);
                            break;
                        }
                        p = piece.end;
                        while p < run.end && b[p] == b' ' {
                            p += 1;
                        }
                    }
                    if let Some(r) = resume {
                        i = r;
                        continue;
                    }
                }
                // Skip the whole run (and a trailing alphanumeric tail).
                let mut j = run.end.max(i + 1);
                while j < b.len() && alnum(b[j]) {
                    j += 1;
                }
                i = j;
                continue;
            }
            if c.is_ascii_uppercase() {
                i = self.alnum_token(i);
                continue;
            }
            if c.is_ascii_hexdigit() || c == b':' {
                let mut k = i;
                while k < b.len() && b[k].is_ascii_hexdigit() {
                    k += 1;
                }
                if b.get(k) == Some(&b':') && k - i <= 4 {
                    i = self.ipv6(i);
                    continue;
                }
            }
            i += 1;
        }
    }
}

/// Whole-word check for ASCII dictionary hits.
fn ascii_word(b: &[u8], s: usize, e: usize) -> bool {
    (s == 0 || !b[s - 1].is_ascii_alphabetic()) && (e >= b.len() || !b[e].is_ascii_alphabetic())
}

/// Capitalized words starting at `i` (after spaces): returns their end.
fn capitalized_words(b: &[u8], mut i: usize, max: usize) -> Option<(usize, usize, usize)> {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let start = i;
    let mut words = 0;
    let mut end = i;
    while words < max && i < b.len() && b[i].is_ascii_uppercase() {
        let mut j = i + 1;
        while j < b.len() {
            if b[j].is_ascii_lowercase() {
                j += 1;
            } else if (b[j] == b'\'' || b[j] == b'-') && b.get(j + 1).is_some_and(u8::is_ascii_alphabetic) {
                // O'Connor, Smith-Jones
                j += 2;
            } else {
                break;
            }
        }
        if j - i < 2 || (j < b.len() && b[j].is_ascii_alphanumeric()) {
            break;
        }
        words += 1;
        end = j;
        // Another word follows after one space.
        if j + 1 < b.len() && b[j] == b' ' && b[j + 1].is_ascii_uppercase() {
            i = j + 1;
        } else {
            break;
        }
    }
    (words > 0).then_some((start, end, words))
}

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

fn char_before(s: &str, i: usize) -> Option<(usize, char)> {
    s.get(..i).and_then(|t| t.char_indices().next_back())
}

/// A Chinese name starting at byte `i` (surname, then one or two given
/// characters): its end.
fn cn_name_at(s: &str, i: usize) -> Option<usize> {
    let d = dict();
    let rest = s.get(i..)?;
    let after_surname = if let Some(c) = d.compound_surnames.iter().find(|c| rest.starts_with(c.as_str())) {
        i + c.len()
    } else {
        let c = char_at(s, i)?;
        if !d.surnames.contains(&c) {
            return None;
        }
        i + c.len_utf8()
    };
    let mut j = after_surname;
    let mut given = 0;
    while given < 2 {
        // A name ends where an honorific begins ("王小姐" is 王 + 小姐).
        if d.honorifics_after.iter().any(|h| s[j..].starts_with(h.as_str())) {
            break;
        }
        match char_at(s, j) {
            Some(c) if is_cjk(c) && !d.name_stop.contains(&c) => {
                j += c.len_utf8();
                given += 1;
            }
            _ => break,
        }
    }
    (given >= 1).then_some(j)
}

/// Two to three Chinese characters that could be a name (no stop
/// character), followed by punctuation or a stop character.
fn cn_name_shape(s: &str, i: usize) -> Option<usize> {
    let d = dict();
    let mut j = i;
    let mut n = 0;
    let honorific_at = |j: usize| d.honorifics_after.iter().any(|h| s[j..].starts_with(h.as_str()));
    while n < 3 && !honorific_at(j) {
        match char_at(s, j) {
            Some(c) if is_cjk(c) && !d.name_stop.contains(&c) => {
                j += c.len_utf8();
                n += 1;
            }
            _ => break,
        }
    }
    let next_ok = honorific_at(j) || char_at(s, j).is_none_or(|c| !is_cjk(c) || d.name_stop.contains(&c));
    ((2..=3).contains(&n) && next_ok).then_some(j)
}

/// Chinese address from byte `i`: up to the last address word or number
/// before punctuation, at most 60 characters.
fn cn_address_from(s: &str, i: usize) -> Option<usize> {
    let d = dict();
    let mut j = i;
    let mut last_good = None;
    let mut words = 0;
    for (n, c) in s[i..].chars().enumerate() {
        if n >= 60 || !(is_cjk(c) || c.is_ascii_digit() || c == '-' || c == '#') {
            break;
        }
        j += c.len_utf8();
        let here = &s[i..j];
        if let Some(w) = d.address_words.iter().find(|w| here.ends_with(w.as_str())) {
            // "号" after digits, or any other address word.
            words += 1;
            let _ = w;
            last_good = Some(j);
        } else if c.is_ascii_digit() {
            // Digits count only if an address word follows them later.
        }
    }
    let end = last_good?;
    (words >= 2 || s[i..end].chars().count() >= 6).then_some(end)
}

fn dictionary_findings(norm: &str, out: &mut Vec<Raw>, context: &mut Vec<(usize, usize, Word)>) {
    let d = dict();
    let b = norm.as_bytes();
    for m in d.automaton.find_iter(norm) {
        let (s, e) = (m.start(), m.end());
        let w = d.kinds[m.pattern().as_usize()];
        let ascii = b[s].is_ascii();
        if ascii && !ascii_word(b, s, e) && !matches!(w, Word::EnHonorific | Word::EnNameContext) {
            continue;
        }
        match w {
            Word::ContextId | Word::ContextPhone | Word::ContextCard | Word::ContextPassport | Word::ContextSsn => {
                context.push((s, e, w))
            }
            Word::CnNameContext => {
                // Skip a colon, "是", "为", spaces.
                let mut j = e;
                while let Some(c) = char_at(norm, j) {
                    if matches!(c, ':' | '：' | ' ' | '是' | '为' | '叫') {
                        j += c.len_utf8();
                    } else {
                        break;
                    }
                }
                if let Some(end) = cn_name_at(norm, j) {
                    out.push(Raw {
                        kind: Kind::PersonName,
                        s: j,
                        e: end,
                        score: 0.85,
                        evidence: vec!["context_before", "surname"],
                    });
                } else if let Some(end) = cn_name_shape(norm, j) {
                    // A surname outside the dictionary right after a name
                    // context word ("收件人：隗思远").
                    out.push(Raw {
                        kind: Kind::PersonName,
                        s: j,
                        e: end,
                        score: 0.65,
                        evidence: vec!["context_before", "name_shape"],
                    });
                }
            }
            Word::CnHonorific => {
                // Two or three characters before: surname + given name(s).
                let mut starts = Vec::new();
                let mut k = s;
                for _ in 0..3 {
                    match char_before(norm, k) {
                        Some((p, c)) if is_cjk(c) => {
                            starts.push(p);
                            k = p;
                        }
                        _ => break,
                    }
                }
                // Prefer the longest start whose name ends exactly at the honorific.
                if let Some(&st) = starts.iter().rev().find(|&&st| cn_name_at(norm, st) == Some(s)) {
                    out.push(Raw {
                        kind: Kind::PersonName,
                        s: st,
                        e: s,
                        score: 0.85,
                        evidence: vec!["honorific_after", "surname"],
                    });
                } else if let Some(&st) = starts.first() {
                    // A surname alone before the honorific ("王先生").
                    if char_at(norm, st).is_some_and(|c| d.surnames.contains(&c)) {
                        out.push(Raw {
                            kind: Kind::PersonName,
                            s: st,
                            e: s,
                            score: 0.6,
                            evidence: vec!["honorific_after", "surname_only"],
                        });
                    }
                }
            }
            Word::CnPlace => {
                if let Some(end) = cn_address_from(norm, s) {
                    out.push(Raw {
                        kind: Kind::Address,
                        s,
                        e: end,
                        score: 0.85,
                        evidence: vec!["place_name", "address_words"],
                    });
                }
            }
            Word::CnAddressContext => {
                let mut j = e;
                while let Some(c) = char_at(norm, j) {
                    if matches!(c, ':' | ' ' | '是' | '为' | '在') {
                        j += c.len_utf8();
                    } else {
                        break;
                    }
                }
                if let Some(end) = cn_address_from(norm, j) {
                    out.push(Raw {
                        kind: Kind::Address,
                        s: j,
                        e: end,
                        score: 0.8,
                        evidence: vec!["context_before", "address_words"],
                    });
                }
            }
            Word::EnHonorific => {
                if !ascii_word(b, s, if b[e - 1] == b'.' { e - 1 } else { e }) {
                    continue;
                }
                if let Some((ws, we, _)) = capitalized_words(b, e, 3) {
                    if ws > e && ws - e <= 2 {
                        out.push(Raw {
                            kind: Kind::PersonName,
                            s: ws,
                            e: we,
                            score: 0.85,
                            evidence: vec!["honorific_before"],
                        });
                    }
                }
            }
            Word::EnNameContext => {
                if let Some((ws, we, words)) = capitalized_words(b, e, 3) {
                    if ws > e && ws - e <= 2 && words >= 2 {
                        out.push(Raw {
                            kind: Kind::PersonName,
                            s: ws,
                            e: we,
                            score: 0.8,
                            evidence: vec!["context_before"],
                        });
                    }
                }
            }
            Word::EnFirstName => {
                // A known given name followed by a capitalized family name.
                if e < b.len() && b[e] == b' ' {
                    if let Some((_, we, words)) = capitalized_words(b, e + 1, 2) {
                        if words >= 1 {
                            out.push(Raw {
                                kind: Kind::PersonName,
                                s,
                                e: we,
                                score: 0.7,
                                evidence: vec!["given_name_dictionary"],
                            });
                        }
                    }
                }
            }
            Word::EnStreetSuffix => {
                // "<number> <Capitalized words> <suffix>[.]"
                let mut k = s;
                let mut words = 0;
                while k > 1 && b[k - 1] == b' ' && words < 3 {
                    let mut w = k - 1;
                    while w > 0 && b[w - 1].is_ascii_alphabetic() {
                        w -= 1;
                    }
                    if w < k - 1 && b[w].is_ascii_uppercase() {
                        k = w;
                        words += 1;
                    } else {
                        break;
                    }
                }
                let mut n = k;
                if n > 1 && b[n - 1] == b' ' {
                    let mut d0 = n - 1;
                    while d0 > 0 && b[d0 - 1].is_ascii_digit() {
                        d0 -= 1;
                    }
                    if d0 < n - 1 && (n - 1 - d0) <= 6 && (d0 == 0 || !alnum(b[d0 - 1])) {
                        n = d0;
                    }
                }
                if words == 0 || n == k {
                    continue;
                }
                const ABBREVIATIONS: &[&str] = &[
                    "St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Pl", "Pkwy", "Sq", "Hwy", "Cir",
                ];
                let abbreviated = ABBREVIATIONS.contains(&&norm[s..e]);
                let mut end = if abbreviated && b.get(e) == Some(&b'.') {
                    e + 1
                } else {
                    e
                };
                // ", City, ST 12345"
                let tail = &norm[end..];
                if let Some(rest) = tail.strip_prefix(", ") {
                    if let Some((_, ce, _)) = capitalized_words(rest.as_bytes(), 0, 3) {
                        let after = &rest[ce..];
                        let ab = after.as_bytes();
                        let mut extra = 2 + ce;
                        if ab.len() >= 5
                            && ab.starts_with(b", ")
                            && ab[2].is_ascii_uppercase()
                            && ab[3].is_ascii_uppercase()
                        {
                            extra += 4;
                            let zip = &ab[4..];
                            if zip.len() >= 6 && zip[0] == b' ' && zip[1..6].iter().all(u8::is_ascii_digit) {
                                extra += 6;
                            }
                        }
                        end += extra;
                    }
                }
                out.push(Raw {
                    kind: Kind::Address,
                    s: n,
                    e: end,
                    score: 0.85,
                    evidence: vec!["house_number", "street_suffix"],
                });
            }
        }
    }
}

/// Raise numbers near their context words; drop context-only candidates without context.
fn apply_context(raw: &mut Vec<Raw>, context: &[(usize, usize, Word)]) {
    const NEAR: usize = 32;
    for r in raw.iter_mut() {
        let want = match r.kind {
            Kind::CnId => Word::ContextId,
            Kind::CnMobile | Kind::CnLandline | Kind::Phone => Word::ContextPhone,
            Kind::BankCard => Word::ContextCard,
            Kind::Passport => Word::ContextPassport,
            Kind::UsSsn => Word::ContextSsn,
            _ => continue,
        };
        let near = context
            .iter()
            .any(|(s, e, w)| *w == want && *e <= r.s && r.s - *e <= NEAR || *w == want && *s >= r.e && *s - r.e <= 8);
        if near {
            r.evidence.push("context_word");
            r.score = if r.score == 0.0 {
                0.85
            } else {
                (r.score + 0.05).min(0.99)
            };
        }
    }
    raw.retain(|r| r.score > 0.0);
}

/// Keep the best of overlapping findings (higher score, then longer).
fn resolve(mut raw: Vec<Raw>) -> Vec<Raw> {
    raw.sort_by(|a, b| a.s.cmp(&b.s).then(b.e.cmp(&a.e)));
    let mut out: Vec<Raw> = Vec::with_capacity(raw.len());
    for r in raw {
        if let Some(last) = out.last_mut() {
            if r.s < last.e {
                let better = r.score > last.score || (r.score == last.score && r.e - r.s > last.e - last.s);
                if better {
                    *last = r;
                }
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// Find personal information in `text`.
pub fn detect(text: &str) -> Vec<Finding> {
    let norm = normalize(text);
    let mut sc = Scanner {
        b: norm.as_bytes(),
        out: Vec::new(),
    };
    sc.scan();
    let mut raw = sc.out;
    let mut context = Vec::new();
    dictionary_findings(&norm, &mut raw, &mut context);
    apply_context(&mut raw, &context);
    let raw = resolve(raw);
    let mut map = OffsetMap::new(text, &norm);
    raw.into_iter()
        .map(|r| {
            let (bs, cs) = map.map(r.s);
            let (be, ce) = map.map(r.e);
            Finding {
                kind: r.kind,
                start: cs,
                end: ce,
                byte_start: bs,
                byte_end: be,
                text: text[bs..be].to_owned(),
                score: r.score,
                evidence: r.evidence,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
