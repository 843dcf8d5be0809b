//! Realistic synthetic customers for demos, tests and benchmarks: Chinese
//! and American customers mixed, with resident IDs whose check digits and
//! birth dates are right, Luhn-valid card numbers, and phone numbers that
//! libphonenumber accepts. No real person's data.

use custodia_core::validate::{cn_id_check_char, luhn_valid};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

/// The CSV header written by [`write_demo_csv`].
pub const DEMO_HEADER: [&str; 11] = [
    "external_id",
    "name",
    "national_id",
    "mobile",
    "email",
    "bank_card",
    "address",
    "birth_date",
    "segment",
    "department",
    "locale",
];

const SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("欧阳", "ouyang"),
    ("司马", "sima"),
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "华", "建国", "晓东", "雪", "婷", "宇", "浩", "欣怡", "子轩", "梓涵",
];
const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Emily",
    "Daniel",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
];
/// (region code, province and city, district)
const REGIONS: &[(&str, &str, &str)] = &[
    ("110105", "北京市", "朝阳区"),
    ("110108", "北京市", "海淀区"),
    ("310115", "上海市", "浦东新区"),
    ("310104", "上海市", "徐汇区"),
    ("440305", "广东省深圳市", "南山区"),
    ("440106", "广东省广州市", "天河区"),
    ("330106", "浙江省杭州市", "西湖区"),
    ("320102", "江苏省南京市", "玄武区"),
    ("510104", "四川省成都市", "锦江区"),
    ("420102", "湖北省武汉市", "江岸区"),
    ("610113", "陕西省西安市", "雁塔区"),
    ("500103", "重庆市", "渝中区"),
    ("120101", "天津市", "和平区"),
    ("370102", "山东省济南市", "历下区"),
    ("350203", "福建省厦门市", "思明区"),
    ("650102", "新疆维吾尔自治区乌鲁木齐市", "天山区"),
];
const STREETS_ZH: &[&str] = &[
    "建国路",
    "人民路",
    "中山路",
    "解放大道",
    "科技园路",
    "长江路",
    "和平街",
    "学院路",
    "滨江大道",
    "文化路",
];
const CITIES_US: &[(&str, &str, &str)] = &[
    ("New York", "NY", "212"),
    ("San Francisco", "CA", "415"),
    ("Chicago", "IL", "312"),
    ("Seattle", "WA", "206"),
    ("Boston", "MA", "617"),
    ("Austin", "TX", "512"),
    ("Denver", "CO", "303"),
    ("Atlanta", "GA", "404"),
];
const STREETS_US: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Park Ave",
    "Washington Blvd",
    "Lake St",
    "Hill Rd",
];
const DOMAINS_ZH: &[&str] = &["qq.com", "163.com", "126.com", "example.cn", "sina.com"];
const DOMAINS_US: &[&str] = &["gmail.com", "outlook.com", "example.com", "yahoo.com"];
const CN_MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156", "157",
    "158", "159", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "193", "195", "198", "199",
    "173", "175", "176", "177", "178",
];
const CN_CARD_BINS: &[&str] = &["622202", "621700", "622848", "621226", "622588", "623668"];

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

fn card(rng: &mut StdRng, prefix: &str, len: usize) -> String {
    let body = format!("{prefix}{}", digits(rng, len - prefix.len() - 1));
    (0..10u8)
        .map(|c| format!("{body}{c}"))
        .find(|c| luhn_valid(c.as_bytes()))
        .expect("one check digit always fits")
}

fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

/// One synthetic customer row (in [`DEMO_HEADER`] order), number `i`.
pub fn demo_row(rng: &mut StdRng, i: u64) -> [String; 11] {
    let chinese = rng.gen_bool(0.7);
    let year = rng.gen_range(1950..=2005);
    let month = rng.gen_range(1..=12u32);
    let day = rng.gen_range(1..=28u32);
    let birth = format!("{year:04}-{month:02}-{day:02}");
    let segment = match rng.gen_range(0..10) {
        0 => "vip",
        1 => "corporate",
        2 => "prospect",
        _ => "retail",
    };
    let department = *pick(rng, &["sales", "service", "risk", "marketing"]);
    if chinese {
        let (surname, pinyin) = *pick(rng, SURNAMES);
        let given = if rng.gen_bool(0.6) {
            format!("{}{}", pick(rng, GIVEN), pick(rng, GIVEN))
        } else {
            pick(rng, GIVEN).to_string()
        };
        let (region, city, district) = *pick(rng, REGIONS);
        let first17 = format!("{region}{year:04}{month:02}{day:02}{}", digits(rng, 3));
        let id = format!("{first17}{}", cn_id_check_char(first17.as_bytes()) as char);
        let prefix = *pick(rng, CN_MOBILE_PREFIXES);
        let mobile = format!("{prefix}{}", digits(rng, 8));
        let address = format!("{city}{district}{}{}号", pick(rng, STREETS_ZH), rng.gen_range(1..400));
        let len = if rng.gen_bool(0.5) { 19 } else { 16 };
        let bin = *pick(rng, CN_CARD_BINS);
        [
            format!("CRM-{i:09}"),
            format!("{surname}{given}"),
            id,
            mobile,
            format!("{pinyin}{i}@{}", pick(rng, DOMAINS_ZH)),
            card(rng, bin, len),
            address,
            birth,
            segment.into(),
            department.into(),
            "zh_CN".into(),
        ]
    } else {
        let first = *pick(rng, FIRST);
        let last = *pick(rng, LAST);
        let (city, state, area) = *pick(rng, CITIES_US);
        // N00 and N11 exchanges are reserved (NANP), libphonenumber refuses them.
        let exchange = loop {
            let e = rng.gen_range(201..999);
            if e % 100 != 0 && e % 100 != 11 {
                break e;
            }
        };
        // As US CRMs write them: often without +1 (read in the customer's
        // country, from the locale).
        let mobile = if rng.gen_bool(0.5) {
            format!("({area}) {exchange}-{}", digits(rng, 4))
        } else {
            format!("+1 {area}-{exchange}-{}", digits(rng, 4))
        };
        // A Social Security number for most (SSA structure: never area
        // 000, 666 or 9xx, group 00 or serial 0000).
        let ssn = if rng.gen_bool(0.7) {
            let area = loop {
                let a = rng.gen_range(1..900);
                if a != 666 {
                    break a;
                }
            };
            format!("{area:03}-{:02}-{:04}", rng.gen_range(1..100), rng.gen_range(1..10000))
        } else {
            String::new()
        };
        let address = format!(
            "{} {}, {city}, {state} {}, USA",
            rng.gen_range(1..9999),
            pick(rng, STREETS_US),
            digits(rng, 5)
        );
        let prefix = if rng.gen_bool(0.6) { "4" } else { "5" };
        [
            format!("CRM-{i:09}"),
            format!("{first} {last}"),
            ssn,
            mobile,
            format!(
                "{}.{}{i}@{}",
                first.to_lowercase(),
                last.to_lowercase(),
                pick(rng, DOMAINS_US)
            ),
            card(rng, if prefix == "5" { "52" } else { "4" }, 16),
            address,
            birth,
            segment.into(),
            department.into(),
            "en_US".into(),
        ]
    }
}

/// Write `n` synthetic customers as CSV, numbered from `start`, reproducible
/// for a given `seed`.
pub fn write_demo_csv(
    out: impl Write,
    n: u64,
    start: u64,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(DEMO_HEADER)?;
    let mut rng = StdRng::seed_from_u64(seed);
    for i in start..start + n {
        w.write_record(demo_row(&mut rng, i))?;
        if (i - start + 1).is_multiple_of(10_000) {
            progress(10_000);
        }
    }
    progress(n % 10_000);
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use custodia_core::{Schema, Validator};

    #[test]
    fn every_demo_row_validates() {
        let s = Schema::default_schema();
        let v = Validator::new("CN", chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        let mut rng = StdRng::seed_from_u64(7);
        for i in 0..5000 {
            let row = demo_row(&mut rng, i);
            // Each row is read in its own context (its locale's country).
            let ctx = custodia_core::RecordContext::from_values(|k| {
                DEMO_HEADER.iter().position(|h| *h == k).map(|j| row[j].as_str())
            });
            for (name, value) in DEMO_HEADER.iter().zip(row.iter()).skip(1) {
                if value.is_empty() {
                    continue;
                }
                let f = s.field(name).unwrap();
                assert!(
                    v.check_in(f, value, &ctx).is_ok(),
                    "row {i} field {name}: {:?}",
                    v.check_in(f, value, &ctx)
                );
            }
        }
    }

    #[test]
    fn demo_is_reproducible() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_demo_csv(&mut a, 50, 1, 42, |_| {}).unwrap();
        write_demo_csv(&mut b, 50, 1, 42, |_| {}).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(a).unwrap().lines().count(), 51);
    }
}
