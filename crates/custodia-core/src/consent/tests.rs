use super::*;
use ConsentKind::*;

fn p(f: impl FnOnce(&mut Processing)) -> Processing {
    let mut x = Processing {
        consent_basis: true,
        classes: [Classification::Personal].into_iter().collect(),
        ..Default::default()
    };
    f(&mut x);
    x
}

#[test]
fn table() {
    const PIPL: &[Regime] = &[Regime::Pipl];
    const GDPR: &[Regime] = &[Regime::Gdpr];
    const BOTH: &[Regime] = &[Regime::Pipl, Regime::Gdpr];
    const CCPA: &[Regime] = &[Regime::Ccpa];
    type Case = (
        &'static str,
        Processing,
        &'static [Regime],
        &'static [ConsentKind],
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "contract basis needs none",
            p(|x| x.consent_basis = false),
            PIPL,
            &[],
            &[],
        ),
        ("plain personal data", p(|_| {}), PIPL, &[General], &["pipl-14"]),
        (
            "sensitive data",
            p(|x| {
                x.classes.insert(Classification::Sensitive);
            }),
            PIPL,
            &[General, Separate],
            &["pipl-14", "pipl-29"],
        ),
        (
            "sharing with a controller",
            p(|x| x.shared_with_controller = true),
            PIPL,
            &[General, Separate],
            &["pipl-14", "pipl-23"],
        ),
        (
            "public disclosure",
            p(|x| x.public_disclosure = true),
            PIPL,
            &[General, Separate],
            &["pipl-14", "pipl-25"],
        ),
        (
            "cross-border",
            p(|x| x.cross_border = true),
            PIPL,
            &[General, Separate],
            &["pipl-14", "pipl-39"],
        ),
        (
            "13-year-old under PIPL",
            p(|x| x.age = Some(13)),
            PIPL,
            &[General, Separate, Guardian],
            &["pipl-14", "pipl-31", "pipl-28-minor"],
        ),
        (
            "14-year-old under PIPL",
            p(|x| x.age = Some(14)),
            PIPL,
            &[General],
            &["pipl-14"],
        ),
        (
            "15-year-old under GDPR",
            p(|x| x.age = Some(15)),
            GDPR,
            &[General, Guardian],
            &["gdpr-7", "gdpr-8"],
        ),
        (
            "16-year-old under GDPR",
            p(|x| x.age = Some(16)),
            GDPR,
            &[General],
            &["gdpr-7"],
        ),
        (
            "PIPL-sensitive data (a bank card) is not a GDPR special category",
            p(|x| {
                x.classes.insert(Classification::Sensitive);
            }),
            GDPR,
            &[General],
            &["gdpr-7"],
        ),
        (
            "GDPR special category on explicit consent",
            p(|x| x.special_category_by_consent = true),
            GDPR,
            &[General, Separate],
            &["gdpr-7", "gdpr-9"],
        ),
        (
            "GDPR special category on explicit consent, contract basis: Art. 9 still asks",
            p(|x| {
                x.consent_basis = false;
                x.special_category_by_consent = true;
            }),
            GDPR,
            &[Separate],
            &["gdpr-9"],
        ),
        (
            "GDPR transfer with safeguards: no Art. 49 consent",
            p(|x| x.cross_border = true),
            GDPR,
            &[General],
            &["gdpr-7"],
        ),
        (
            "GDPR transfer on explicit consent, contract basis",
            p(|x| {
                x.consent_basis = false;
                x.cross_border = true;
                x.transfer_by_consent = true;
            }),
            GDPR,
            &[Separate],
            &["gdpr-49"],
        ),
        (
            "CCPA contract basis, sold or shared, 15 years old: opt-in whatever the basis",
            p(|x| {
                x.consent_basis = false;
                x.shared_with_controller = true;
                x.age = Some(15);
            }),
            CCPA,
            &[Separate],
            &["ccpa-120c-16"],
        ),
        (
            "CCPA contract basis, sold or shared, adult: nothing",
            p(|x| {
                x.consent_basis = false;
                x.shared_with_controller = true;
                x.age = Some(30);
            }),
            CCPA,
            &[],
            &[],
        ),
        (
            "CCPA financial incentive, contract basis: opt-in",
            p(|x| {
                x.consent_basis = false;
                x.financial_incentive = true;
            }),
            CCPA,
            &[General],
            &["ccpa-125b3"],
        ),
        (
            "PIPL written consent where another law asks, legal-obligation basis",
            p(|x| {
                x.consent_basis = false;
                x.written_required = true;
            }),
            PIPL,
            &[Written],
            &["pipl-14-written"],
        ),
        (
            "PIPL contract basis, transfer abroad: none (Art. 13 ¶2)",
            p(|x| {
                x.consent_basis = false;
                x.cross_border = true;
            }),
            PIPL,
            &[],
            &[],
        ),
        (
            "GDPR sharing needs no separate consent",
            p(|x| x.shared_with_controller = true),
            GDPR,
            &[General],
            &["gdpr-7"],
        ),
        (
            "both regimes, transfer abroad on explicit consent",
            p(|x| {
                x.cross_border = true;
                x.transfer_by_consent = true;
            }),
            BOTH,
            &[General, Separate],
            &["pipl-14", "pipl-39", "gdpr-7", "gdpr-49"],
        ),
        // A CCPA-only notice: consent is consent there too.
        ("CCPA consent basis", p(|_| {}), CCPA, &[General], &["ccpa-consent"]),
        (
            "CCPA, sold or shared, 15 years old: their own opt-in",
            p(|x| {
                x.shared_with_controller = true;
                x.age = Some(15);
            }),
            CCPA,
            &[General, Separate],
            &["ccpa-consent", "ccpa-120c-16"],
        ),
        (
            "CCPA, sold or shared, 12 years old: a parent's opt-in too",
            p(|x| {
                x.shared_with_controller = true;
                x.age = Some(12);
            }),
            CCPA,
            &[General, Separate, Guardian],
            &["ccpa-consent", "ccpa-120c-16", "ccpa-120c-13"],
        ),
        (
            "CCPA, sold or shared, 16 years old: consent only",
            p(|x| {
                x.shared_with_controller = true;
                x.age = Some(16);
            }),
            CCPA,
            &[General],
            &["ccpa-consent"],
        ),
        (
            "CCPA, 12 years old, not sold or shared",
            p(|x| x.age = Some(12)),
            CCPA,
            &[General],
            &["ccpa-consent"],
        ),
    ];
    for (name, proc_, regimes, kinds, rules) in cases {
        let r = required(&proc_, regimes, Ages::default());
        assert_eq!(r.kinds.iter().copied().collect::<Vec<_>>(), kinds.to_vec(), "{name}");
        assert_eq!(r.rules, rules.to_vec(), "{name}");
    }
}

#[test]
fn ages_are_configurable() {
    let x = p(|x| x.age = Some(14));
    let r = required(&x, &[Regime::Gdpr], Ages { pipl: 14, gdpr: 13 });
    assert!(!r.kinds.contains(&Guardian));
    let r = required(&x, &[Regime::Gdpr], Ages { pipl: 14, gdpr: 16 });
    assert!(r.kinds.contains(&Guardian));
}

#[test]
fn every_rule_is_cited_in_both_languages_and_has_a_unique_id() {
    let mut ids = std::collections::BTreeSet::new();
    for r in RULES {
        assert!(ids.insert(r.id), "{} twice", r.id);
        let prefix = match r.regime {
            Regime::Pipl => "PIPL Art.",
            Regime::Gdpr => "GDPR Art.",
            Regime::Ccpa => "Cal. Civ. Code §1798.",
        };
        assert!(r.citation.starts_with(prefix), "{}: {}", r.id, r.citation);
        assert!(
            !r.text_en.is_empty() && r.text_zh.chars().any(|c| c as u32 > 0x3000),
            "{}",
            r.id
        );
    }
    let req = required(&p(|x| x.cross_border = true), &[Regime::Pipl], Ages::default());
    assert_eq!(req.citations(), vec!["PIPL Art. 14", "PIPL Art. 39"]);
}

fn fact(given: bool, v: u32, kinds: &[ConsentKind]) -> ConsentFact {
    ConsentFact {
        given,
        notice_version: v,
        kinds: kinds.iter().copied().collect(),
    }
}

#[test]
fn evaluation_table() {
    let general = required(&p(|_| {}), &[Regime::Pipl], Ages::default());
    let separate = required(
        &p(|x| {
            x.classes.insert(Classification::Sensitive);
        }),
        &[Regime::Pipl],
        Ages::default(),
    );
    let none = required(&p(|x| x.consent_basis = false), &[Regime::Pipl], Ages::default());
    let cases: Vec<(&str, &Requirement, u32, Option<ConsentFact>, &str)> = vec![
        ("contract basis", &none, 1, None, "not_needed"),
        ("never asked", &general, 1, None, "never_given"),
        ("given", &general, 1, Some(fact(true, 1, &[General])), "active"),
        (
            "given under a later version",
            &general,
            1,
            Some(fact(true, 3, &[General])),
            "active",
        ),
        ("withdrawn", &general, 1, Some(fact(false, 1, &[General])), "withdrawn"),
        (
            "material change since",
            &general,
            2,
            Some(fact(true, 1, &[General])),
            "renewal_needed",
        ),
        (
            "renewed under the new version",
            &general,
            2,
            Some(fact(true, 2, &[General])),
            "active",
        ),
        (
            "general only, separate needed",
            &separate,
            1,
            Some(fact(true, 1, &[General])),
            "kind_missing",
        ),
        (
            "separate given",
            &separate,
            1,
            Some(fact(true, 1, &[General, Separate])),
            "active",
        ),
    ];
    for (name, req, floor, latest, want) in cases {
        let st = evaluate(req, floor, latest.as_ref());
        assert_eq!(st.code(), want, "{name}");
        assert_eq!(st.allows(), want == "active" || want == "not_needed", "{name}");
        assert_eq!(st.reason_en().is_empty(), st.allows(), "{name}");
    }
}

#[test]
fn offers_must_meet_the_requirement() {
    let sensitive_minor = required(
        &p(|x| {
            x.classes.insert(Classification::Sensitive);
            x.age = Some(12);
        }),
        &[Regime::Pipl],
        Ages::default(),
    );
    let bundled = Asked {
        separately: false,
        by: GivenBy::Guardian,
        written: false,
    };
    let by_child = Asked {
        separately: true,
        by: GivenBy::Subject,
        written: false,
    };
    let right = Asked {
        separately: true,
        by: GivenBy::Guardian,
        written: false,
    };
    assert_eq!(check_offer(&sensitive_minor, bundled), Err(ConsentDefect::NotSeparate));
    assert_eq!(check_offer(&sensitive_minor, by_child), Err(ConsentDefect::NotGuardian));
    let kinds = check_offer(&sensitive_minor, right).unwrap();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), vec![General, Separate, Guardian]);
    // A separate answer where only general consent is needed also satisfies later separate needs.
    let general = required(&p(|_| {}), &[Regime::Pipl], Ages::default());
    let kinds = check_offer(&general, by_child).unwrap();
    assert!(kinds.contains(&Separate));
    // Written consent needs the signed document.
    let written = required(
        &p(|x| {
            x.consent_basis = false;
            x.written_required = true;
        }),
        &[Regime::Pipl],
        Ages::default(),
    );
    assert_eq!(check_offer(&written, by_child), Err(ConsentDefect::NotWritten));
    let signed = Asked {
        written: true,
        ..by_child
    };
    assert!(check_offer(&written, signed).unwrap().contains(&Written));
    for k in [General, Separate, Guardian, Written] {
        assert_eq!(ConsentKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(ConsentKind::parse("verbal"), None);
}

#[test]
fn ages_and_channels() {
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert_eq!(age_on(d("2012-06-15"), d("2026-06-14")), 13);
    assert_eq!(age_on(d("2012-06-15"), d("2026-06-15")), 14);
    assert_eq!(age_on(d("2030-01-01"), d("2026-06-15")), 0);
    for c in Channel::ALL {
        assert_eq!(Channel::parse(c.as_str()), Some(c));
    }
    assert_eq!(Channel::parse("carrier_pigeon"), None);
    assert_eq!(GivenBy::parse("guardian"), Some(GivenBy::Guardian));
}
