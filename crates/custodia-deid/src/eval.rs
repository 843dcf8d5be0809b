//! The detector's evaluation harness: a labeled corpus generated from
//! Chinese and English templates (every number format the detector claims,
//! names and addresses, and distractors that must not be found), and a
//! scorer giving precision, recall, F1 and F2 per type on exact and on
//! overlapping spans.
//!
//! Names in the corpus are drawn partly from outside the detector's
//! dictionaries (rare surnames, uncommon given names) and partly without
//! any context word, so recall for names is measured, not assumed.

use crate::detect::{detect, Kind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;

/// One labeled span (character offsets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gold {
    /// Type.
    pub kind: Kind,
    /// Start (characters).
    pub start: usize,
    /// End (characters, exclusive).
    pub end: usize,
}

/// One labeled document.
#[derive(Debug, Clone, Serialize)]
pub struct Doc {
    /// The text.
    pub text: String,
    /// Its personal information.
    pub spans: Vec<Gold>,
}

struct Builder {
    text: String,
    chars: usize,
    spans: Vec<Gold>,
}

impl Builder {
    fn lit(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }
    fn pii(&mut self, kind: Kind, s: &str) {
        let start = self.chars;
        self.lit(s);
        self.spans.push(Gold {
            kind,
            start,
            end: self.chars,
        });
    }
}

const REGIONS: &[&str] = &[
    "110105", "110108", "310115", "440305", "440106", "330106", "320102", "510104", "420102", "610113", "500103",
    "120101", "370102", "350203", "650102", "230103",
];
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "135", "136", "137", "138", "139", "150", "152", "158", "159", "166", "176", "177", "180", "185",
    "186", "188", "189", "191", "199",
];
const CARD_BINS: &[(&str, usize)] = &[
    ("622202", 19),
    ("621700", 19),
    ("622848", 19),
    ("625941", 16),
    ("4", 16),
    ("51", 16),
    ("6011", 16),
];
// Surnames both inside and outside the detector's dictionary (阚 隗 亓 嵇 滑 are not in it).
const CN_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "周", "欧阳", "司马", "诸葛", "阚", "隗", "亓", "嵇", "滑",
];
const CN_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "秀英", "桂英", "建国", "晓东", "雨萱", "子涵", "浩然",
    "一鸣", "思远", "梓萱",
];
const EN_FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Emily",
    "Daniel",
    "Olivia",
    "Noah",
    "Siobhan",
    "Thaddeus",
    "Anneliese",
    "Oluwaseun",
];
const EN_LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Nakamura",
    "O'Connor",
    "Kowalski",
    "Okafor",
    "Lindqvist",
];
const ZH_PLACES: &[(&str, &str)] = &[
    ("广东省深圳市", "南山区"),
    ("北京市", "朝阳区"),
    ("上海市", "浦东新区"),
    ("浙江省杭州市", "西湖区"),
    ("四川省成都市", "锦江区"),
    ("湖北省武汉市", "江岸区"),
    ("江苏省南京市", "玄武区"),
];
const ZH_STREETS: &[&str] = &[
    "建国路",
    "人民路",
    "中山路",
    "解放大道",
    "科技园路",
    "长江路",
    "和平街",
    "学院路",
];
const EN_STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Maple",
    "Cedar",
    "Park",
    "Washington",
    "Lake",
    "Sunset",
    "Elm",
];
const EN_SUFFIXES: &[&str] = &[
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Boulevard",
    "Blvd",
    "Lane",
    "Drive",
];
const EN_CITIES: &[(&str, &str)] = &[
    ("New York", "NY"),
    ("San Francisco", "CA"),
    ("Chicago", "IL"),
    ("Seattle", "WA"),
    ("Boston", "MA"),
    ("Austin", "TX"),
];
const INTL: &[(&str, usize)] = &[
    ("+1 212 ", 7),
    ("+1 415 ", 7),
    ("+44 20 7946 ", 4),
    ("+49 30 ", 8),
    ("+81 3 ", 8),
    ("+65 6", 7),
];

fn digits(r: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + r.gen_range(0..10u8))).collect()
}

fn pick<'a, T>(r: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[r.gen_range(0..xs.len())]
}

fn luhn_complete(body: &str) -> String {
    (0..10u8)
        .map(|c| format!("{body}{c}"))
        .find(|c| custodia_core::validate::luhn_valid(c.as_bytes()))
        .expect("one check digit fits")
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

fn cn_id_written(r: &mut StdRng) -> String {
    let id = cn_id(r);
    match r.gen_range(0..10) {
        0 | 1 => format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
        2 => full_width(&id),
        3 => id.to_lowercase(),
        _ => id,
    }
}

fn cn_id(r: &mut StdRng) -> String {
    let date = chrono::NaiveDate::from_ymd_opt(r.gen_range(1950..2006), r.gen_range(1..13), r.gen_range(1..29))
        .expect("valid");
    let body = format!("{}{}{}", pick(r, REGIONS), date.format("%Y%m%d"), digits(r, 3));
    let c = custodia_core::validate::cn_id_check_char(body.as_bytes()) as char;
    format!("{body}{c}")
}

fn mobile(r: &mut StdRng) -> String {
    let d = format!("{}{}", pick(r, MOBILE_PREFIXES), digits(r, 8));
    match r.gen_range(0..6) {
        0 => format!("{} {} {}", &d[..3], &d[3..7], &d[7..]),
        1 => format!("{}-{}-{}", &d[..3], &d[3..7], &d[7..]),
        2 if r.gen_bool(0.5) => format!("+86 {d}"),
        2 => format!("(+86) {}-{}-{}", &d[..3], &d[3..7], &d[7..]),
        3 => full_width(&d),
        _ => d,
    }
}

fn card(r: &mut StdRng) -> String {
    let (bin, len) = *pick(r, CARD_BINS);
    let c = luhn_complete(&format!("{bin}{}", digits(r, len - bin.len() - 1)));
    match (len, r.gen_range(0..5)) {
        (16, 0) => format!("{} {} {} {}", &c[..4], &c[4..8], &c[8..12], &c[12..]),
        (16, 1) => format!("{}-{}-{}-{}", &c[..4], &c[4..8], &c[8..12], &c[12..]),
        (19, 0) => format!("{} {} {} {} {}", &c[..4], &c[4..8], &c[8..12], &c[12..16], &c[16..]),
        _ => c,
    }
}

fn iban(r: &mut StdRng) -> String {
    let (cc, bban) = match r.gen_range(0..3) {
        0 => (
            "GB",
            format!("{}{}", ["WEST", "NWBK", "BARC"][r.gen_range(0..3)], digits(r, 14)),
        ),
        1 => ("DE", digits(r, 18)),
        _ => ("FR", digits(r, 23)),
    };
    let rearranged: String = format!("{bban}{cc}00");
    let mut rem: u64 = 0;
    for ch in rearranged.chars() {
        let v = ch.to_digit(36).expect("alphanumeric") as u64;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    let check = 98 - rem;
    let compact = format!("{cc}{check:02}{bban}");
    if r.gen_bool(0.5) {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        compact
    }
}

fn ssn(r: &mut StdRng) -> String {
    let area = loop {
        let a = r.gen_range(1..900);
        if a != 666 {
            break a;
        }
    };
    format!("{area:03}-{:02}-{:04}", r.gen_range(1..100), r.gen_range(1..10000))
}

fn cn_name(r: &mut StdRng) -> String {
    format!("{}{}", pick(r, CN_SURNAMES), pick(r, CN_GIVEN))
}

fn en_name(r: &mut StdRng) -> String {
    format!("{} {}", pick(r, EN_FIRST), pick(r, EN_LAST))
}

fn zh_address(r: &mut StdRng) -> String {
    let (city, district) = pick(r, ZH_PLACES);
    let mut a = format!("{city}{district}{}{}号", pick(r, ZH_STREETS), r.gen_range(1..500));
    if r.gen_bool(0.5) {
        a.push_str(&format!("{}栋{}室", r.gen_range(1..30), r.gen_range(101..2400)));
    }
    a
}

fn en_address(r: &mut StdRng) -> String {
    let (city, st) = pick(r, EN_CITIES);
    format!(
        "{} {} {}, {city}, {st} {}",
        r.gen_range(1..9999),
        pick(r, EN_STREETS),
        pick(r, EN_SUFFIXES),
        digits(r, 5)
    )
}

fn intl(r: &mut StdRng) -> String {
    loop {
        let (p, n) = *pick(r, INTL);
        let mut s = format!("{p}{}", r.gen_range(2..10));
        s.push_str(&digits(r, n - 1));
        if let Ok(num) = phonenumber::parse(None, &s) {
            if phonenumber::is_valid(&num) {
                return s;
            }
        }
    }
}

/// Distractors: numbers and words that look like personal information but are not.
fn distractor(r: &mut StdRng) -> String {
    match r.gen_range(0..9) {
        0 => format!("订单号{}", digits(r, 14)),
        1 => format!("金额{}.{}元", r.gen_range(1..99999), digits(r, 2)),
        2 => format!(
            "{}-{:02}-{:02}",
            r.gen_range(2000..2030),
            r.gen_range(1..13),
            r.gen_range(1..29)
        ),
        3 => {
            // An ID with a wrong check digit.
            let id = cn_id(r);
            let last = id.chars().last().unwrap_or('0');
            let wrong = if last == '1' { '2' } else { '1' };
            format!("编号{}{}", &id[..17], wrong)
        }
        4 => {
            let c = luhn_complete(&format!("6222{}", digits(r, 11)));
            let mut b = c.into_bytes();
            let last = b.len() - 1;
            b[last] = if b[last] == b'9' { b'0' } else { b[last] + 1 };
            format!("ref {}", String::from_utf8(b).expect("ascii"))
        }
        5 => format!("v{}.{}.{}", r.gen_range(0..10), r.gen_range(0..20), r.gen_range(0..100)),
        6 => format!("{}:{:02}", r.gen_range(0..24), r.gen_range(0..60)),
        7 => format!("工号{}", digits(r, 6)),
        _ => format!("共{}件", r.gen_range(1..1000)),
    }
}

type Filler = fn(&mut Builder, &mut StdRng);

fn zh_templates() -> Vec<Filler> {
    vec![
        |b, r| {
            b.lit("客户");
            b.pii(Kind::PersonName, &cn_name(r));
            b.lit("来电，手机");
            b.pii(Kind::CnMobile, &mobile(r));
            b.lit("，");
            b.lit(&distractor(r));
            b.lit("。");
        },
        |b, r| {
            b.lit("身份证号");
            b.pii(Kind::CnId, &cn_id_written(r));
            b.lit("，请核对。");
        },
        |b, r| {
            b.lit("快递送到");
            let (_, district) = pick(r, ZH_PLACES);
            let a = format!("{district}{}{}号", pick(r, ZH_STREETS), r.gen_range(1..300));
            b.pii(Kind::Address, &a);
            b.lit("，谢谢。");
        },
        |b, r| {
            b.lit("请");
            b.pii(Kind::PersonName, &cn_name(r));
            b.lit("先生到三号窗口办理，");
            b.lit(&distractor(r));
            b.lit("。");
        },
        |b, r| {
            b.lit("收货地址：");
            b.pii(Kind::Address, &zh_address(r));
            b.lit("，收件人：");
            b.pii(Kind::PersonName, &cn_name(r));
            b.lit("。");
        },
        |b, r| {
            b.lit("还款银行卡");
            b.pii(Kind::BankCard, &card(r));
            b.lit("已绑定");
            b.lit(&distractor(r));
            b.lit("。");
        },
        |b, r| {
            b.lit("邮箱");
            let e = format!(
                "{}{}@{}",
                ["zhang", "li.na", "wang_wei", "chen"][r.gen_range(0..4)],
                r.gen_range(1..999),
                ["qq.com", "163.com", "example.cn"][r.gen_range(0..3)]
            );
            b.pii(Kind::Email, &e);
            b.lit("，座机");
            let l = format!("0{}-{}", ["10", "21", "755", "571"][r.gen_range(0..4)], digits(r, 8));
            b.pii(Kind::CnLandline, &l);
            b.lit("。");
        },
        |b, r| {
            b.lit("护照号");
            let p = format!("E{}", digits(r, 8));
            b.pii(Kind::Passport, &p);
            b.lit("，有效期至2030年。");
        },
        |b, r| {
            b.lit("登录IP ");
            let ip = format!(
                "{}.{}.{}.{}",
                r.gen_range(1..224),
                r.gen_range(0..256),
                r.gen_range(0..256),
                r.gen_range(1..255)
            );
            b.pii(Kind::Ipv4, &ip);
            b.lit("，");
            b.lit(&distractor(r));
            b.lit("。");
        },
        |b, r| {
            b.pii(Kind::PersonName, &cn_name(r));
            b.lit("今天办理了业务，");
            b.lit(&distractor(r));
            b.lit("。");
        },
        |b, r| {
            b.lit("联系人：");
            b.pii(Kind::PersonName, &cn_name(r));
            b.lit("，电话");
            b.pii(Kind::CnMobile, &mobile(r));
            b.lit("，住在");
            b.pii(Kind::Address, &zh_address(r));
            b.lit("。");
        },
        |b, r| {
            b.lit(&distractor(r));
            b.lit("，");
            b.lit(&distractor(r));
            b.lit("，没有个人信息。");
        },
    ]
}

fn en_templates() -> Vec<Filler> {
    vec![
        |b, r| {
            b.lit("Dear Mr. ");
            b.pii(Kind::PersonName, &en_name(r));
            b.lit(", your card ");
            b.pii(Kind::BankCard, &card(r));
            b.lit(" was charged.");
        },
        |b, r| {
            b.lit("Please call ");
            b.pii(Kind::Phone, &intl(r));
            b.lit(" or write to ");
            let e = format!(
                "{}.{}@{}",
                ["john", "mary", "j"][r.gen_range(0..3)],
                ["smith", "lee", "doe"][r.gen_range(0..3)],
                ["gmail.com", "example.com", "outlook.com"][r.gen_range(0..3)]
            );
            b.pii(Kind::Email, &e);
            b.lit(".");
        },
        |b, r| {
            b.lit("Ship to ");
            b.pii(Kind::Address, &en_address(r));
            b.lit(" by Friday, order ");
            b.lit(&digits(r, 10));
            b.lit(".");
        },
        |b, r| {
            b.lit("SSN ");
            b.pii(Kind::UsSsn, &ssn(r));
            b.lit(" on file since ");
            b.lit(&format!("{}", r.gen_range(1990..2025)));
            b.lit(".");
        },
        |b, r| {
            b.lit("Transfer to IBAN ");
            b.pii(Kind::Iban, &iban(r));
            b.lit(" reference ");
            b.lit(&digits(r, 8));
            b.lit(".");
        },
        |b, r| {
            b.lit("Passport number ");
            b.pii(Kind::Passport, &digits(r, 9));
            b.lit(" expires 2031.");
        },
        |b, r| {
            b.lit("Login from ");
            let v6 = format!(
                "2001:db8:{:x}:{:x}::{:x}",
                r.gen_range(1..0xffff),
                r.gen_range(1..0xffff),
                r.gen_range(1..0xffff)
            );
            b.pii(Kind::Ipv6, &v6);
            b.lit(" at 10:42.");
        },
        |b, r| {
            b.pii(Kind::PersonName, &en_name(r));
            b.lit(" asked about version ");
            b.lit(&distractor(r));
            b.lit(".");
        },
        |b, r| {
            b.lit("Customer ID ");
            b.pii(Kind::CnId, &cn_id(r));
            b.lit(", mobile ");
            b.pii(Kind::CnMobile, &mobile(r));
            b.lit(".");
        },
        |b, r| {
            b.lit("Nothing to see: ");
            b.lit(&distractor(r));
            b.lit(" and ");
            b.lit(&distractor(r));
            b.lit(".");
        },
    ]
}

/// `n` documents from `seed`.
pub fn corpus(n: usize, seed: u64) -> Vec<Doc> {
    let mut r = StdRng::seed_from_u64(seed);
    let zh = zh_templates();
    let en = en_templates();
    (0..n)
        .map(|_| {
            let mut b = Builder {
                text: String::new(),
                chars: 0,
                spans: Vec::new(),
            };
            let f = if r.gen_bool(0.5) {
                pick(&mut r, &zh)
            } else {
                pick(&mut r, &en)
            };
            f(&mut b, &mut r);
            Doc {
                text: b.text,
                spans: b.spans,
            }
        })
        .collect()
}

/// Counts and rates for one type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TypeScore {
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub fn_: u64,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// F2 (recall weighs twice).
    pub f2: f64,
}

impl TypeScore {
    fn finish(&mut self) {
        let p = if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        };
        let r = if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        };
        self.precision = p;
        self.recall = r;
        self.f1 = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
        self.f2 = if p + r == 0.0 { 0.0 } else { 5.0 * p * r / (4.0 * p + r) };
    }
}

/// Scores per type, on exact spans and on overlapping spans.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Documents.
    pub documents: usize,
    /// Exact span and type.
    pub exact: BTreeMap<Kind, TypeScore>,
    /// Overlapping span, same type.
    pub overlap: BTreeMap<Kind, TypeScore>,
}

/// Score the detector on `docs`.
pub fn score(docs: &[Doc]) -> Report {
    let mut rep = Report {
        documents: docs.len(),
        ..Default::default()
    };
    for d in docs {
        let found = detect(&d.text);
        for (table, exact) in [(&mut rep.exact, true), (&mut rep.overlap, false)] {
            let mut used = vec![false; found.len()];
            for g in &d.spans {
                let hit = found.iter().enumerate().position(|(i, f)| {
                    !used[i]
                        && f.kind == g.kind
                        && if exact {
                            f.start == g.start && f.end == g.end
                        } else {
                            f.start < g.end && g.start < f.end
                        }
                });
                let s = table.entry(g.kind).or_default();
                match hit {
                    Some(i) => {
                        used[i] = true;
                        s.tp += 1;
                    }
                    None => s.fn_ += 1,
                }
            }
            for (i, f) in found.iter().enumerate() {
                if !used[i] {
                    table.entry(f.kind).or_default().fp += 1;
                }
            }
        }
    }
    for s in rep.exact.values_mut().chain(rep.overlap.values_mut()) {
        s.finish();
    }
    rep
}

/// Mixed Chinese/English text of at least `bytes` bytes from the corpus,
/// one document per line (for throughput measurements).
pub fn mixed_text(bytes: usize, seed: u64) -> String {
    let mut out = String::with_capacity(bytes + 1024);
    let mut s = seed;
    while out.len() < bytes {
        for d in corpus(1000, s) {
            out.push_str(&d.text);
            out.push('\n');
        }
        s += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_spans_point_at_their_text() {
        for d in corpus(300, 7) {
            for g in &d.spans {
                let t: String = d.text.chars().skip(g.start).take(g.end - g.start).collect();
                assert!(!t.is_empty(), "{d:?}");
            }
        }
    }

    #[test]
    fn the_detector_meets_its_quality_bar_on_checksummed_types() {
        let rep = score(&corpus(3000, 2026));
        for k in Kind::ALL.iter().filter(|k| k.checksummed()) {
            let s = &rep.exact[k];
            assert!(s.f1 >= 0.95, "{k:?}: {s:?}");
        }
        // Every type appears and is scored.
        for k in Kind::ALL {
            assert!(rep.exact.contains_key(&k), "{k:?} missing from the corpus");
        }
    }

    #[test]
    fn scores_count_right() {
        let docs = vec![Doc {
            text: "手机13800138000，订单12345678901234".into(),
            spans: vec![Gold {
                kind: Kind::CnMobile,
                start: 2,
                end: 13,
            }],
        }];
        let r = score(&docs);
        assert_eq!(r.exact[&Kind::CnMobile].tp, 1);
        assert_eq!(r.exact[&Kind::CnMobile].f1, 1.0);
    }
}
