use super::*;
use crate::consent::{Ages, ConsentKind, Regime};

const V1: &str = r#"
version = 1
effective = "2026-01-01"
title_en = "Privacy notice"
title_zh = "隐私政策"
body_en = "How we handle your information."
body_zh = "我们如何处理您的个人信息。"

[controller]
name = "Example Trading Co., Ltd."

[[purposes]]
id = "customer_service"
basis = "contract"
fields = ["name", "mobile", "email"]
retention = { years = 3, from = "contract_end" }
recipients = [{ name = "SMS Gateway Ltd", role = "processor" }]

[[purposes]]
id = "marketing"
basis = "consent"
fields = ["name", "email"]
retention = { months = 24, from = "last_activity" }

[[purposes]]
id = "risk_control"
basis = "consent"
fields = ["name", "national_id"]
retention = { years = 5, from = "collection" }
necessity_en = "Verifying identity prevents fraud against the customer."
necessity_zh = "核验身份以防止针对客户的欺诈。"
impact = { en = "A match may hold your account for review.", zh = "比对命中可能导致账户被暂停审核。" }
"#;

fn schema() -> Schema {
    Schema::default_schema()
}

#[test]
fn parses_and_computes_requirements() {
    let n = Notice::from_toml(V1, &schema()).unwrap();
    let req = |id: &str, age| {
        n.requirement(id, &schema(), &[Regime::Pipl], Ages::default(), age)
            .unwrap()
    };
    assert!(!req("customer_service", None).needed(), "contract basis");
    assert_eq!(kind_names(&req("marketing", None)), vec!["general"]);
    assert_eq!(
        kind_names(&req("risk_control", None)),
        vec!["general", "separate"],
        "sensitive national_id"
    );
    assert!(req("marketing", Some(12)).kinds.contains(&ConsentKind::Guardian));
    assert!(n
        .requirement("nope", &schema(), &[Regime::Pipl], Ages::default(), None)
        .is_none());
}

#[test]
fn refuses_bad_notices_with_lines() {
    let bad = V1
        .replace(
            "\"national_id\"]\nretention = { years = 5, from = \"collection\" }\nnecessity_en",
            "\"national_id\", \"shoe\"]\nretention = { years = 5, from = \"collection\" }\nnecessity_en",
        )
        .replace("id = \"marketing\"", "id = \"gossip\"");
    let errs = Notice::from_toml(&bad, &schema()).unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("purpose gossip is not in the schema's catalog")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.contains("field shoe")), "{text:?}");
    assert!(errs.iter().all(|e| e.line > 0), "{errs:?}");
    let no_necessity = V1.replace(
        "necessity_en = \"Verifying identity prevents fraud against the customer.\"\n",
        "",
    );
    let errs = Notice::from_toml(&no_necessity, &schema()).unwrap_err();
    assert!(errs[0].message.contains("PIPL Art. 30"), "{errs:?}");
    assert!(Notice::from_toml("version = 1\nextra = true", &schema()).is_err());
}

#[test]
fn material_changes_need_renewal() {
    let s = schema();
    let v1 = Notice::from_toml(V1, &s).unwrap();
    let v2_text = V1
        .replace("version = 1", "version = 2")
        .replace("fields = [\"name\", \"email\"]", "fields = [\"name\", \"email\", \"mobile\"]")
        .replace("retention = { months = 24, from = \"last_activity\" }", "retention = { months = 24, from = \"last_activity\" }\ntransfers = [{ country = \"SG\", recipient = \"Ad Partner Pte\", mechanism = \"standard_contract\", contact = \"dpo@adpartner.sg\", purpose = { en = \"ads\", zh = \"广告\" }, method = { en = \"matching\", zh = \"匹配\" }, fields = [\"email\"], rights = { en = \"write to dpo@adpartner.sg\", zh = \"致函 dpo@adpartner.sg\" } }]")
        .replace("retention = { years = 5, from = \"collection\" }", "retention = { years = 3, from = \"collection\" }")
        .replace("How we handle your information.", "How we handle your information, clarified.");
    let v2 = Notice::from_toml(&v2_text, &s).unwrap();
    let changes = diff(&v1, &v2);
    let m = |c: &Change| c.material();
    let marketing = Purpose::new("marketing").unwrap();
    assert!(changes.contains(&Change::FieldAdded {
        purpose: marketing.clone(),
        field: FieldName::new("mobile").unwrap()
    }));
    assert!(changes.contains(&Change::TransferAdded {
        purpose: marketing.clone(),
        country: "SG".into()
    }));
    assert!(changes.contains(&Change::RetentionShorter {
        purpose: Purpose::new("risk_control").unwrap()
    }));
    assert!(changes.contains(&Change::TextChanged));
    assert_eq!(changes.iter().filter(|c| m(c)).count(), 2);
    assert_eq!(
        renewal_needed(&changes, &v2).into_iter().collect::<Vec<_>>(),
        vec![marketing]
    );
    // A new consent-based purpose or a longer retention needs renewal; contract-based purposes never do.
    let v3 = Notice::from_toml(
        &V1.replace(
            "retention = { years = 3, from = \"contract_end\" }",
            "retention = { years = 10, from = \"contract_end\" }",
        )
        .replace("months = 24", "months = 36"),
        &s,
    )
    .unwrap();
    let changes = diff(&v1, &v3);
    assert_eq!(changes.len(), 2);
    assert_eq!(
        renewal_needed(&changes, &v3)
            .into_iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        vec!["marketing"]
    );
}

#[test]
fn floors_follow_material_changes_across_versions() {
    let s = schema();
    let v1 = Notice::from_toml(V1, &s).unwrap();
    // v2: wording only. v3: marketing gains a field. v4: marketing drops it (not material).
    let v2 = Notice::from_toml(
        &V1.replace("version = 1", "version = 2")
            .replace("How we", "How we really"),
        &s,
    )
    .unwrap();
    let v3_text = V1.replace("version = 1", "version = 3").replace(
        "fields = [\"name\", \"email\"]",
        "fields = [\"name\", \"email\", \"mobile\"]",
    );
    let v3 = Notice::from_toml(&v3_text, &s).unwrap();
    let v4 = Notice::from_toml(&V1.replace("version = 1", "version = 4"), &s).unwrap();
    let f = |h: &[Notice]| {
        renewal_floors(h)
            .into_iter()
            .map(|(p, v)| (p.to_string(), v))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        f(std::slice::from_ref(&v1)),
        vec![
            ("customer_service".into(), 1),
            ("marketing".into(), 1),
            ("risk_control".into(), 1)
        ]
    );
    assert_eq!(f(&[v1.clone(), v2.clone()])[1], ("marketing".to_string(), 1));
    assert_eq!(
        f(&[v1.clone(), v2.clone(), v3.clone()])[1],
        ("marketing".to_string(), 3)
    );
    assert_eq!(
        f(&[v1, v2, v3, v4])[1],
        ("marketing".to_string(), 3),
        "removing a field is not material"
    );
}

#[test]
fn necessary_fields_count_collecting_purposes_and_given_consents() {
    let s = schema();
    let text = V1.replace(
        "[[purposes]]\nid = \"marketing\"",
        "[[purposes]]\nid = \"data_subject_request\"\nbasis = \"legal_obligation\"\ncollects = false\nfields = [\"bank_card\"]\nretention = { years = 3, from = \"collection\" }\nnecessity_en = \"x\"\nnecessity_zh = \"x\"\nimpact = { en = \"x\", zh = \"x\" }\n\n[[purposes]]\nid = \"marketing\"",
    );
    let n = Notice::from_toml(&text, &s).unwrap();
    let names = |set: BTreeSet<&FieldName>| set.into_iter().map(|f| f.to_string()).collect::<Vec<_>>();
    assert_eq!(names(n.necessary_fields(|_| false)), vec!["email", "mobile", "name"]);
    let risk = Purpose::new("risk_control").unwrap();
    assert_eq!(
        names(n.necessary_fields(|p| *p == risk)),
        vec!["email", "mobile", "name", "national_id"]
    );
}

#[test]
fn consent_text_is_stable_and_bilingual() {
    let s = schema();
    let n = Notice::from_toml(V1, &s).unwrap();
    let en = n.consent_text("risk_control", &s, Language::En).unwrap();
    let zh = n.consent_text("risk_control", &s, Language::Zh).unwrap();
    assert_eq!(en, n.consent_text("risk_control", &s, Language::En).unwrap());
    assert!(en[0].starts_with("Privacy notice (version 1, 2026-01-01)"), "{en:?}");
    assert!(en.iter().any(|l| l == "Kept: 5 years from collection"), "{en:?}");
    assert!(en.iter().any(|l| l.contains("Identity document number")), "{en:?}");
    assert!(en
        .iter()
        .any(|l| l.starts_with("Why sensitive information is necessary")));
    assert!(zh.iter().any(|l| l == "保存期限：自收集之日起5年"), "{zh:?}");
    assert!(zh.iter().any(|l| l.contains("身份证件号码")), "{zh:?}");
    let cs = n.consent_text("customer_service", &s, Language::En).unwrap();
    assert!(
        cs.iter()
            .any(|l| l.contains("SMS Gateway Ltd (processes on our behalf)")),
        "{cs:?}"
    );
    assert!(n.consent_text("nope", &s, Language::En).is_none());
}

#[test]
fn the_bundled_notice_fits_the_bundled_schema() {
    let n = Notice::from_toml(DEFAULT_NOTICE_TOML, &schema()).unwrap();
    // Every purpose of the catalog is described, and every field is needed by some collecting purpose.
    for p in schema().purposes() {
        assert!(n.purpose(p.id.as_str()).is_some(), "{} not described", p.id);
    }
    let needed = n.necessary_fields(|_| false);
    for f in schema().fields() {
        if f.classification.is_encrypted() {
            assert!(needed.contains(&f.name), "{} not needed by any purpose", f.name);
        }
    }
}

#[test]
fn notice_level_checks() {
    let s = schema();
    let errs = Notice::from_toml(&V1.replace("name = \"Example Trading Co., Ltd.\"", "name = \"\""), &s).unwrap_err();
    assert!(errs[0].message.contains("controller"), "{errs:?}");
    let errs = Notice::from_toml(
        &V1.replace(
            "[controller]",
            "birth_date_field = \"name\"\nages = { gdpr = 12 }\n\n[controller]",
        ),
        &s,
    )
    .unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(text.iter().any(|t| t.contains("not a date field")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("from 13 to 16")), "{text:?}");
}

#[test]
fn publishing_refuses_what_the_law_does_not_allow_naming_the_article() {
    let s = schema();
    let base = V1.to_owned();
    // (change to V1, expected article in the refusal)
    let cases: Vec<(String, &str)> = vec![
        (
            base.replace("basis = \"contract\"", "basis = \"legitimate_interests\""),
            "PIPL Art. 13",
        ),
        (
            base.replace("title_en", "regimes = [\"gdpr\"]\ntitle_en")
                .replace("basis = \"contract\"", "basis = \"hr_management\""),
            "GDPR Art. 6(1), 88",
        ),
        (
            base.replace("title_en", "regimes = [\"gdpr\"]\ntitle_en")
                .replace("basis = \"contract\"", "basis = \"public_interest\""),
            "GDPR Art. 6(1)(e), 85",
        ),
        (
            base.replace("basis = \"contract\"", "basis = \"public_task\""),
            "PIPL Art. 13",
        ),
        (
            base.replace(
                "role = \"processor\"",
                "role = \"controller\", contact = \"x@sms.example\"",
            ),
            "PIPL Art. 23",
        ),
        (
            base.replace(
                "retention = { months = 24, from = \"last_activity\" }",
                "retention = { months = 24, from = \"last_activity\" }\ntransfers = [{ country = \"SG\", recipient = \"Ad Partner\", mechanism = \"standard_contract\" }]",
            ),
            "PIPL Art. 39",
        ),
        (
            base.replace("impact = { en = \"A match may hold your account for review.\", zh = \"比对命中可能导致账户被暂停审核。\" }", ""),
            "PIPL Art. 30",
        ),
        (
            base.replace("title_en", "regimes = [\"gdpr\"]\ntitle_en").replace(
                "retention = { months = 24, from = \"last_activity\" }",
                "retention = { months = 24, from = \"last_activity\" }\ntransfers = [{ country = \"US\", recipient = \"Ad Partner\", mechanism = \"sccs\" }]",
            ),
            "GDPR Art. 44-49",
        ),
        (
            base.replace("title_en", "regimes = [\"gdpr\"]\ntitle_en").replace(
                "retention = { months = 24, from = \"last_activity\" }",
                "retention = { months = 24, from = \"last_activity\" }\ntransfers = [{ country = \"US\", recipient = \"Ad Partner\", mechanism = \"none\", safeguard = \"explicit_consent\" }]",
            ),
            "GDPR Art. 49(1)(a)",
        ),
        (
            base.replace(
                "retention = { months = 24, from = \"last_activity\" }",
                "retention = { months = 24, from = \"last_activity\" }\nfinancial_incentive = { en = \"10% off\", zh = \"九折\" }",
            ),
            "Cal. Civ. Code §1798.125(b)",
        ),
        (
            base.replace("title_en", "regimes = [\"ccpa\"]\ntitle_en").replace(
                "retention = { months = 24, from = \"last_activity\" }",
                "retention = { months = 24, from = \"last_activity\" }\nfinancial_incentive = { en = \"10% off\" }",
            ),
            "11 CCR §7016(b)",
        ),
        (
            base.replace(
                "retention = { months = 24, from = \"last_activity\" }",
                "retention = { months = 24, from = \"last_activity\" }\nwritten_consent = \" \"",
            ),
            "PIPL Art. 14",
        ),
    ];
    for (text, article) in cases {
        let errs = Notice::from_toml(&text, &s).expect_err(article);
        assert!(
            errs.iter().any(|e| e.message.contains(article) && e.line > 0),
            "{article}: {errs:?}"
        );
        // The same text is readable as a published version (parse alone).
        let n = Notice::parse(&text, &s).unwrap();
        assert!(n.legal_defects(&s).iter().any(|d| d.message.contains(article)));
    }
    // Legitimate interests is fine under the GDPR, and every basis under the CCPA.
    let gdpr = base
        .replace("title_en", "regimes = [\"gdpr\"]\ntitle_en")
        .replace("basis = \"contract\"", "basis = \"legitimate_interests\"");
    assert!(Notice::from_toml(&gdpr, &s).is_ok());
    let ccpa = base
        .replace("title_en", "regimes = [\"ccpa\"]\ntitle_en")
        .replace("basis = \"contract\"", "basis = \"public_data\"");
    assert!(Notice::from_toml(&ccpa, &s).is_ok());
}

#[test]
fn what_a_separate_consent_tells_is_in_its_text() {
    let s = schema();
    let text = V1.replace("title_en", "regimes = [\"pipl\", \"gdpr\"]\ntitle_en").replace(
        "retention = { months = 24, from = \"last_activity\" }",
        r#"retention = { months = 24, from = "last_activity" }
recipients = [{ name = "Partner Bank", role = "controller", contact = "+86 21 5555 0000", purpose = { en = "co-branded offers", zh = "联名优惠" }, method = { en = "matching by e-mail", zh = "按电子邮件匹配" }, fields = ["email"] }]
transfers = [{ country = "US", recipient = "Ad Cloud Inc", mechanism = "standard contract", contact = "privacy@adcloud.example", purpose = { en = "ad delivery", zh = "广告投放" }, method = { en = "storage", zh = "存储" }, fields = ["email"], rights = { en = "write to privacy@adcloud.example", zh = "致函 privacy@adcloud.example" }, safeguard = "explicit_consent", risks = { en = "US law may give authorities access without EU-level remedies", zh = "美国法律可能允许当局访问且无欧盟同等救济" } }]"#,
    );
    let n = Notice::from_toml(&text, &s).unwrap();
    let en = n.consent_text("marketing", &s, Language::En).unwrap().join("\n");
    for want in [
        "+86 21 5555 0000",
        "co-branded offers",
        "matching by e-mail",
        "privacy@adcloud.example",
        "ad delivery",
        "write to privacy@adcloud.example",
        "without EU-level remedies",
        "GDPR Art. 6(1)(a)",
    ] {
        assert!(en.contains(want), "{want}: {en}");
    }
    let zh = n.consent_text("marketing", &s, Language::Zh).unwrap().join("\n");
    assert!(zh.contains("联名优惠") && zh.contains("美国法律"));
    let risk = n.consent_text("risk_control", &s, Language::En).unwrap().join("\n");
    assert!(risk.contains("Impact on your rights: A match may hold your account for review."));
    // Under both regimes, the explicit-consent transfer needs separate consent.
    let req = n.requirement_for("marketing", &s, None).unwrap();
    assert!(req.rules.contains(&"gdpr-49") && req.rules.contains(&"pipl-39"));
}

#[test]
fn retention_periods_compare_on_the_calendar() {
    let r = |years, months, days| Retention {
        years,
        months,
        days,
        from: RetentionStart::Collection,
    };
    use std::cmp::Ordering::*;
    // (new, old, ordering)
    let table = [
        (r(1, 0, 0), r(0, 12, 0), Equal),
        (r(0, 12, 0), r(1, 0, 0), Equal),
        (r(0, 1, 0), r(0, 0, 30), Greater),
        (r(0, 0, 31), r(0, 1, 0), Greater),
        (r(0, 0, 27), r(0, 1, 0), Less),
        (r(0, 0, 28), r(0, 1, 0), Equal),
        (r(2, 0, 0), r(1, 11, 30), Greater),
        (r(0, 0, 365), r(1, 0, 0), Equal),
        (r(0, 0, 364), r(1, 0, 0), Less),
    ];
    for (new, old, want) in table {
        assert_eq!(new.compare(&old), want, "{new:?} vs {old:?}");
    }
}

#[test]
fn a_special_category_needs_its_art9_condition_under_the_gdpr() {
    let text = crate::schema::DEFAULT_SCHEMA_TOML.replacen(
        "[[purposes]]",
        "[[fields]]\nname = \"health_note\"\ntype = \"text\"\nclassification = \"sensitive\"\nmask = \"full\"\nspecial_category = \"health\"\n\n[[purposes]]",
        1,
    );
    let s = Schema::from_toml(&text).unwrap();
    let notice = V1.replace("title_en", "regimes = [\"gdpr\"]\ntitle_en").replace(
        "fields = [\"name\", \"mobile\", \"email\"]",
        "fields = [\"name\", \"mobile\", \"email\", \"health_note\"]",
    );
    let errs = Notice::from_toml(&notice, &s).unwrap_err();
    assert!(
        errs.iter().any(|e| e.message.contains("Art. 9(2) condition")),
        "{errs:?}"
    );
    let ok = notice.replace(
        "recipients = [{ name = \"SMS Gateway Ltd\", role = \"processor\" }]",
        "recipients = [{ name = \"SMS Gateway Ltd\", role = \"processor\" }]\nspecial_category_condition = \"explicit_consent\"",
    );
    let n = Notice::from_toml(&ok, &s).unwrap();
    // Contract basis, but Art. 9(2)(a): explicit consent is asked and gated.
    let req = n.requirement_for("customer_service", &s, None).unwrap();
    assert_eq!(req.rules, vec!["gdpr-9"]);
    assert!(n.consent_may_apply(n.purpose("customer_service").unwrap()));
    // A special category must be classified sensitive.
    let bad = text.replace(
        "classification = \"sensitive\"\nmask = \"full\"\nspecial_category",
        "classification = \"personal\"\nmask = \"full\"\nspecial_category",
    );
    assert!(Schema::from_toml(&bad).is_err());
}
