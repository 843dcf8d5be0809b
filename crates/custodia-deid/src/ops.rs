//! Value operators: mask, redact, type label, keyed hash, consistent
//! realistic substitutes (valid checksums), Laplace perturbation and
//! per-customer date shifting. Keys come from the caller (the vault derives
//! them from the master secret).

use crate::detect::Kind;
use chrono::{Days, NaiveDate};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(&(p.len() as u32).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Keep the first `first` and last `last` characters, star the rest.
pub fn mask(v: &str, first: usize, last: usize) -> String {
    let chars: Vec<char> = v.chars().collect();
    let n = chars.len();
    if first + last >= n {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < first || i >= n - last { *c } else { '*' })
        .collect()
}

/// Replace with a fixed mark.
pub fn redact(_v: &str) -> String {
    "[REDACTED]".into()
}

/// Replace with the type's label, e.g. `<CN_MOBILE>`.
pub fn label(kind: Kind) -> String {
    format!("<{}>", kind.as_str().to_uppercase())
}

/// Keyed hash: the same value and key give the same 16 hex digits; without
/// the key nobody can test guesses.
pub fn keyed_hash(key: &[u8; 32], field: &str, v: &str) -> String {
    let h = mac(key, &[field.as_bytes(), v.as_bytes()]);
    h[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn seeded(key: &[u8; 32], kind: Kind, v: &str) -> StdRng {
    StdRng::from_seed(mac(key, &[b"substitute", kind.as_str().as_bytes(), v.as_bytes()]))
}

fn digits(r: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + r.gen_range(0..10u8))).collect()
}

fn luhn_complete(body: &str) -> String {
    (0..10u8)
        .map(|c| format!("{body}{c}"))
        .find(|c| custodia_core::validate::luhn_valid(c.as_bytes()))
        .expect("one check digit fits")
}

const SUB_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
];
const SUB_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明", "超", "霞", "平",
];
const SUB_FIRST: &[&str] = &[
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
];
const SUB_LAST: &[&str] = &[
    "Reed", "Hayes", "Brooks", "Parker", "Ellis", "Gray", "Lane", "Wells", "Shaw", "Cole",
];
const SUB_REGIONS: &[&str] = &["110101", "310101", "440103", "330102", "510104", "420102"];

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}')
}

/// A realistic substitute for `v` of `kind`: the same value and key always
/// give the same substitute, and it passes the type's checks (GB 11643,
/// Luhn, IBAN mod 97, mobile prefixes, SSN ranges).
pub fn substitute(key: &[u8; 32], kind: Kind, v: &str) -> String {
    let r = &mut seeded(key, kind, v);
    match kind {
        Kind::CnId => {
            let date = NaiveDate::from_ymd_opt(1950, 1, 1).expect("valid") + Days::new(r.gen_range(0..20_000));
            let body = format!(
                "{}{}{}",
                SUB_REGIONS[r.gen_range(0..SUB_REGIONS.len())],
                date.format("%Y%m%d"),
                digits(r, 3)
            );
            let c = custodia_core::validate::cn_id_check_char(body.as_bytes()) as char;
            format!("{body}{c}")
        }
        Kind::CnMobile => format!("1{}{}", r.gen_range(3..10), digits(r, 9)),
        Kind::CnLandline => format!("0{}-{}", r.gen_range(10..99), digits(r, 8)),
        Kind::BankCard => {
            let len = v.chars().filter(char::is_ascii_digit).count().clamp(16, 19);
            luhn_complete(&format!("62{}", digits(r, len - 3)))
        }
        Kind::Email => {
            let domain = v.rsplit_once('@').map(|(_, d)| d).unwrap_or("example.com");
            format!("user{}@{}", digits(r, 8), domain)
        }
        Kind::Phone => format!("+1 202 555 {}", digits(r, 4)),
        Kind::Iban => {
            let cc = v
                .get(..2)
                .filter(|c| c.chars().all(|x| x.is_ascii_uppercase()))
                .unwrap_or("DE");
            let bban = digits(r, 18);
            let rearranged = format!("{bban}{cc}00");
            let mut rem: u64 = 0;
            for ch in rearranged.chars() {
                let x = ch.to_digit(36).expect("alphanumeric") as u64;
                rem = if x >= 10 {
                    (rem * 100 + x) % 97
                } else {
                    (rem * 10 + x) % 97
                };
            }
            format!("{cc}{:02}{bban}", 98 - rem)
        }
        Kind::UsSsn => {
            let area = loop {
                let a = r.gen_range(1..900);
                if a != 666 {
                    break a;
                }
            };
            format!("{area:03}-{:02}-{:04}", r.gen_range(1..100), r.gen_range(1..10000))
        }
        Kind::Passport => format!("E{}", digits(r, 8)),
        Kind::Ipv4 => format!(
            "10.{}.{}.{}",
            r.gen_range(0..256),
            r.gen_range(0..256),
            r.gen_range(1..255)
        ),
        Kind::Ipv6 => format!("fd00::{:x}:{:x}", r.gen_range(1..0xffff), r.gen_range(1..0xffff)),
        Kind::PersonName => {
            if v.chars().any(is_cjk) {
                format!(
                    "{}{}",
                    SUB_SURNAMES[r.gen_range(0..SUB_SURNAMES.len())],
                    SUB_GIVEN[r.gen_range(0..SUB_GIVEN.len())]
                )
            } else {
                format!(
                    "{} {}",
                    SUB_FIRST[r.gen_range(0..SUB_FIRST.len())],
                    SUB_LAST[r.gen_range(0..SUB_LAST.len())]
                )
            }
        }
        Kind::Address => {
            if v.chars().any(is_cjk) {
                format!("示例市示例区样本路{}号", r.gen_range(1..999))
            } else {
                format!("{} Sample Street, Springfield", r.gen_range(1..9999))
            }
        }
    }
}

/// One draw of Laplace(0, scale).
pub fn laplace(rng: &mut impl Rng, scale: f64) -> f64 {
    // Inverse CDF on u in (-1/2, 1/2), avoiding the endpoints.
    let u: f64 = rng.gen_range(-0.5 + f64::EPSILON..0.5);
    -scale * u.signum() * (1.0 - 2.0 * u.abs()).ln()
}

/// A number with Laplace noise of scale `sensitivity / epsilon` (the
/// Laplace mechanism: epsilon-differential privacy for one query of that
/// sensitivity).
pub fn perturb(rng: &mut impl Rng, v: f64, epsilon: f64, sensitivity: f64) -> f64 {
    v + laplace(rng, sensitivity / epsilon)
}

/// Shift a date by a per-customer offset in `[-max_days, max_days]` (the
/// same customer always shifts by the same amount, so intervals between
/// their dates survive).
pub fn shift_date(key: &[u8; 32], customer: &str, d: NaiveDate, max_days: u32) -> NaiveDate {
    let h = mac(key, &[b"date-shift", customer.as_bytes()]);
    let span = 2 * max_days as u64 + 1;
    let off = (u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % span) as i64 - max_days as i64;
    if off >= 0 {
        d + Days::new(off as u64)
    } else {
        d - Days::new((-off) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::detect;
    use proptest::prelude::*;

    const K: [u8; 32] = [9; 32];

    #[test]
    fn masks_labels_hashes() {
        assert_eq!(mask("13800138000", 3, 4), "138****8000");
        assert_eq!(mask("张三", 1, 1), "**");
        assert_eq!(mask("张三丰", 1, 0), "张**");
        assert_eq!(label(Kind::CnMobile), "<CN_MOBILE>");
        assert_eq!(redact("x"), "[REDACTED]");
        let h = keyed_hash(&K, "email", "a@b.cn");
        assert_eq!(h.len(), 16);
        assert_eq!(h, keyed_hash(&K, "email", "a@b.cn"));
        assert_ne!(h, keyed_hash(&K, "mobile", "a@b.cn"));
        assert_ne!(h, keyed_hash(&[1; 32], "email", "a@b.cn"));
    }

    #[test]
    fn substitutes_are_consistent_and_pass_their_checks() {
        let cases = [
            (Kind::CnId, "11010519491231002X"),
            (Kind::CnMobile, "13800138000"),
            (Kind::BankCard, "6225880201234565"),
            (Kind::Email, "zhang@qq.com"),
            (Kind::Iban, "GB82WEST12345698765432"),
            (Kind::UsSsn, "123-45-6789"),
            (Kind::Ipv4, "192.168.1.1"),
            (Kind::CnLandline, "010-62751234"),
        ];
        for (kind, v) in cases {
            let s = substitute(&K, kind, v);
            assert_eq!(s, substitute(&K, kind, v), "{kind:?} consistent");
            assert_ne!(s, v);
            assert_ne!(s, substitute(&[1; 32], kind, v), "{kind:?} keyed");
            // The detector recognises the substitute as the same type.
            let f = detect(&format!(" {s} "));
            assert!(f.iter().any(|x| x.kind == kind && x.text == s), "{kind:?}: {s} → {f:?}");
        }
        assert!(substitute(&K, Kind::PersonName, "张三丰").chars().all(is_cjk));
        assert!(substitute(&K, Kind::PersonName, "John Smith").contains(' '));
        assert!(substitute(&K, Kind::Email, "x@corp.cn").ends_with("@corp.cn"));
    }

    #[test]
    fn laplace_noise_has_the_stated_scale() {
        let mut r = StdRng::seed_from_u64(1);
        let n = 200_000;
        let (eps, sens) = (0.5, 2.0);
        let draws: Vec<f64> = (0..n).map(|_| perturb(&mut r, 0.0, eps, sens)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let mad = draws.iter().map(|x| x.abs()).sum::<f64>() / n as f64;
        // Laplace(b): mean 0, mean absolute deviation b = sensitivity/epsilon = 4.
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((mad - 4.0).abs() < 0.05, "{mad}");
    }

    proptest! {
        #[test]
        fn date_shifts_stay_in_range_and_keep_intervals(days in 0u32..400, max in 1u32..60, who in "[a-z0-9]{1,12}") {
            let a = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + Days::new(days as u64);
            let b = a + Days::new(10);
            let sa = shift_date(&K, &who, a, max);
            let sb = shift_date(&K, &who, b, max);
            prop_assert!((sa - a).num_days().abs() <= max as i64);
            prop_assert_eq!((sb - sa).num_days(), 10);
        }

        #[test]
        fn masks_keep_length(v in "\\PC{0,40}", first in 0usize..5, last in 0usize..5) {
            prop_assert_eq!(mask(&v, first, last).chars().count(), v.chars().count());
        }
    }
}
