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
            "GDPR special category",
            p(|x| {
                x.classes.insert(Classification::Sensitive);
            }),
            GDPR,
            &[General, Separate],
            &["gdpr-7", "gdpr-9"],
        ),
        (
            "GDPR sharing needs no separate consent",
            p(|x| x.shared_with_controller = true),
            GDPR,
            &[General],
            &["gdpr-7"],
        ),
        (
            "both regimes, transfer abroad",
            p(|x| x.cross_border = true),
            BOTH,
            &[General, Separate],
            &["pipl-14", "pipl-39", "gdpr-7", "gdpr-49"],
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
        assert!(
            r.citation.starts_with("PIPL Art.") || r.citation.starts_with("GDPR Art."),
            "{}",
            r.id
        );
        assert!(
            !r.text_en.is_empty() && r.text_zh.chars().any(|c| c as u32 > 0x3000),
            "{}",
            r.id
        );
    }
    let req = required(&p(|x| x.cross_border = true), &[Regime::Pipl], Ages::default());
    assert_eq!(req.citations(), vec!["PIPL Art. 14", "PIPL Art. 39"]);
}
