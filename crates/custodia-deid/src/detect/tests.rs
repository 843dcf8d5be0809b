use super::*;

fn kinds(text: &str) -> Vec<(Kind, String)> {
    detect(text).into_iter().map(|f| (f.kind, f.text)).collect()
}

fn one(text: &str, kind: Kind, found: &str) {
    let got = kinds(text);
    assert!(
        got.iter().any(|(k, t)| *k == kind && t == found),
        "{kind:?} {found:?} not found in {text:?}: {got:?}"
    );
}

fn none(text: &str) {
    let got = kinds(text);
    assert!(got.is_empty(), "{text:?} should have no findings: {got:?}");
}

#[test]
fn positives_table() {
    let cases: &[(&str, Kind, &str)] = &[
        ("身份证号11010519491231002X，请核对", Kind::CnId, "11010519491231002X"),
        ("ID: 440305199512311234 ok", Kind::CnId, "440305199512311234"),
        ("旧证号 110105491231002 已作废", Kind::CnId, "110105491231002"),
        ("手机13800138000联系", Kind::CnMobile, "13800138000"),
        // Numbers one after another with only spaces between, each found.
        (
            "电话 13912345678 13987654321，身份证 110101198506126692",
            Kind::CnMobile,
            "13912345678",
        ),
        (
            "电话 13912345678 13987654321，身份证 110101198506126692",
            Kind::CnMobile,
            "13987654321",
        ),
        (
            "电话 13912345678 13987654321，身份证 110101198506126692",
            Kind::CnId,
            "110101198506126692",
        ),
        ("cards 6222021234567890128 13800138000", Kind::CnMobile, "13800138000"),
        ("call +86 138 0013 8000 today", Kind::CnMobile, "+86 138 0013 8000"),
        ("电话：138-0013-8000", Kind::CnMobile, "138-0013-8000"),
        ("手机１３８００１３８０００", Kind::CnMobile, "１３８００１３８０００"),
        ("座机010-62751234转", Kind::CnLandline, "010-62751234"),
        ("tel (0755) 8888-1234", Kind::CnLandline, "(0755) 8888-1234"),
        ("卡号6225 8802 0123 4565付款", Kind::BankCard, "6225 8802 0123 4565"),
        ("card 4111111111111111.", Kind::BankCard, "4111111111111111"),
        (
            "mail ZHANG.san@Example.com.cn now",
            Kind::Email,
            "ZHANG.san@Example.com.cn",
        ),
        ("邮箱zhang@qq.com。", Kind::Email, "zhang@qq.com"),
        ("call +1 415 555 2671 or", Kind::Phone, "+1 415 555 2671"),
        ("+44 20 7946 0958", Kind::Phone, "+44 20 7946 0958"),
        (
            "IBAN GB82 WEST 1234 5698 7654 32 please",
            Kind::Iban,
            "GB82 WEST 1234 5698 7654 32",
        ),
        ("DE89370400440532013000", Kind::Iban, "DE89370400440532013000"),
        ("SSN 123-45-6789", Kind::UsSsn, "123-45-6789"),
        ("护照号E12345678", Kind::Passport, "E12345678"),
        ("passport 123456789 issued", Kind::Passport, "123456789"),
        ("from 192.168.1.20 at", Kind::Ipv4, "192.168.1.20"),
        ("addr 2001:db8::8a2e:370:7334 ok", Kind::Ipv6, "2001:db8::8a2e:370:7334"),
        ("客户张三丰来电", Kind::PersonName, "张三丰"),
        ("联系人：欧阳娜娜", Kind::PersonName, "欧阳娜娜"),
        ("请李明先生到柜台", Kind::PersonName, "李明"),
        ("联系人：王小明，电话", Kind::PersonName, "王小明"),
        ("客户王小姐来电", Kind::PersonName, "王"),
        ("收件人：隗思远女士", Kind::PersonName, "隗思远"),
        ("李小龙先生", Kind::PersonName, "李小龙"),
        ("Dear Mr. John Smith,", Kind::PersonName, "John Smith"),
        ("met Jennifer Lawson today", Kind::PersonName, "Jennifer Lawson"),
        (
            "寄往广东省深圳市南山区科技园路1号，谢谢",
            Kind::Address,
            "广东省深圳市南山区科技园路1号",
        ),
        (
            "地址：朝阳区建国路88号3号楼1201室",
            Kind::Address,
            "朝阳区建国路88号3号楼1201室",
        ),
        (
            "ship to 1600 Amphitheatre Parkway, Mountain View, CA 94043 now",
            Kind::Address,
            "1600 Amphitheatre Parkway, Mountain View, CA 94043",
        ),
        ("lives at 12 Oak Street.", Kind::Address, "12 Oak Street"),
    ];
    for (text, kind, found) in cases {
        one(text, *kind, found);
    }
}

#[test]
fn long_runs_of_numbers_are_each_found() {
    let text = "13800138000 ".repeat(50);
    let found = detect(&text);
    assert_eq!(found.len(), 50, "{found:?}");
    assert!(found
        .iter()
        .all(|f| f.kind == Kind::CnMobile && f.text == "13800138000"));
}

#[test]
fn negatives_table() {
    for text in [
        "订单号 202611230001 金额 1234.56 元",
        "ID 110105194912310022 has a wrong check digit",
        "card 4111111111111112 fails Luhn",
        "版本 1.2.3.4567 发布",
        "时间 12:30:45 开会",
        "SSN 000-12-3456 and 666-12-3456 are invalid",
        "电话号码是123456",
        "abc13800138000def",
        "The road was long",
        "2026-11-23",
        "共有 1380013800 人",
        "IBAN GB82 WEST 1234 5698 7654 33",
        "passport photo 123456789 without the word? no: 123456789",
    ] {
        let got = kinds(text);
        assert!(
            got.iter().all(|(k, _)| !matches!(
                k,
                Kind::CnId | Kind::BankCard | Kind::CnMobile | Kind::Iban | Kind::UsSsn | Kind::Ipv6
            )),
            "{text:?}: {got:?}"
        );
    }
    none("普通的一句话，没有任何个人信息。");
    none("Nothing personal here, just 42 apples.");
}

#[test]
fn offsets_are_characters_and_bytes_of_the_original() {
    let text = "客户张三，手机１３８００１３８０００。";
    let f = detect(text);
    let m = f.iter().find(|f| f.kind == Kind::CnMobile).unwrap();
    assert_eq!(&text[m.byte_start..m.byte_end], "１３８００１３８０００");
    assert_eq!(
        text.chars().skip(m.start).take(m.end - m.start).collect::<String>(),
        m.text
    );
    assert_eq!(m.start, 7);
    let n = f.iter().find(|f| f.kind == Kind::PersonName).unwrap();
    assert_eq!((n.start, n.end), (2, 4));
}

#[test]
fn context_raises_scores() {
    let bare = detect("13800138000").remove(0).score;
    let ctx = detect("手机 13800138000").remove(0);
    assert!(ctx.score > bare);
    assert!(ctx.evidence.contains(&"context_word"));
}

proptest::proptest! {
    #[test]
    fn detect_is_total_and_spans_are_valid(s in "\\PC{0,200}") {
        for f in detect(&s) {
            proptest::prop_assert!(s.is_char_boundary(f.byte_start) && s.is_char_boundary(f.byte_end));
            proptest::prop_assert_eq!(&s[f.byte_start..f.byte_end], f.text.as_str());
            proptest::prop_assert!(f.start < f.end);
        }
    }
}
