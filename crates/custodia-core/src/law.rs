//! The legal bases each regime knows, and every encoded rule in one place:
//! [`rules_markdown`] renders `docs/LEGAL-RULES.md` from the rule tables
//! (consent, bases, clocks, retention), so the page a lawyer reviews cannot
//! drift from the code — a test compares them.

use crate::consent::{self, Regime};
use crate::notice::LegalBasis;
use crate::rights::clock;

/// Whether a legal basis exists under a regime, and where the law says so.
#[derive(Debug, Clone, Copy)]
pub struct BasisRule {
    /// The basis.
    pub basis: LegalBasis,
    /// The regime.
    pub regime: Regime,
    /// Whether a notice under the regime may declare it.
    pub lawful: bool,
    /// The article.
    pub citation: &'static str,
    /// What it is (lawful) or why it is refused, in English.
    pub text_en: &'static str,
    /// The same, in Chinese.
    pub text_zh: &'static str,
}

const fn b(
    basis: LegalBasis,
    regime: Regime,
    lawful: bool,
    citation: &'static str,
    text_en: &'static str,
    text_zh: &'static str,
) -> BasisRule {
    BasisRule {
        basis,
        regime,
        lawful,
        citation,
        text_en,
        text_zh,
    }
}

use LegalBasis as L;
use Regime as R;

/// Every basis under every regime (one row each; a test checks the table
/// is complete). Publishing a notice that declares a basis its regime does
/// not know is refused with the row's citation.
pub const BASES: &[BasisRule] = &[
    // PIPL Art. 13 is a closed list.
    b(L::Consent, R::Pipl, true, "PIPL Art. 13(1)", "your consent", "取得您的同意"),
    b(L::Contract, R::Pipl, true, "PIPL Art. 13(2)", "concluding or performing a contract with you", "为订立、履行您作为一方当事人的合同所必需"),
    b(L::HrManagement, R::Pipl, true, "PIPL Art. 13(2)", "human-resources management under labour rules and collective contracts", "按照依法制定的劳动规章制度和依法签订的集体合同实施人力资源管理所必需"),
    b(L::LegalObligation, R::Pipl, true, "PIPL Art. 13(3)", "performing a statutory duty or obligation", "为履行法定职责或者法定义务所必需"),
    b(L::VitalInterests, R::Pipl, true, "PIPL Art. 13(4)", "responding to a public-health emergency, or protecting life, health and property in an emergency", "为应对突发公共卫生事件，或者紧急情况下为保护自然人的生命健康和财产安全所必需"),
    b(L::PublicInterest, R::Pipl, true, "PIPL Art. 13(5)", "news reporting and supervision by public opinion in the public interest, within a reasonable scope", "为公共利益实施新闻报道、舆论监督等行为，在合理的范围内处理个人信息"),
    b(L::PublicTask, R::Pipl, false, "PIPL Art. 13", "PIPL has no public-task basis: a statutory duty is legal_obligation (Art. 13(3))", "《个人信息保护法》没有“公共任务”依据：履行法定职责应选择 legal_obligation（第十三条第三项）"),
    b(L::PublicData, R::Pipl, true, "PIPL Art. 13(6), 27", "information you disclosed yourself or that was lawfully disclosed, within a reasonable scope", "依照本法规定在合理的范围内处理个人自行公开或者其他已经合法公开的个人信息"),
    b(L::LegitimateInterests, R::Pipl, false, "PIPL Art. 13", "PIPL Art. 13 lists the bases exhaustively and legitimate interests is not among them", "《个人信息保护法》第十三条穷尽列举了合法性基础，其中没有“正当利益”"),
    // GDPR Art. 6(1).
    b(L::Consent, R::Gdpr, true, "GDPR Art. 6(1)(a)", "your consent", "您的同意"),
    b(L::Contract, R::Gdpr, true, "GDPR Art. 6(1)(b)", "performing a contract with you, or steps you asked for before one", "履行与您的合同或应您要求在订立合同前采取措施所必需"),
    b(L::HrManagement, R::Gdpr, false, "GDPR Art. 6(1), 88", "the GDPR has no human-resources basis: employment processing rests on contract, legal obligation or legitimate interests, with member-state rules (Art. 88)", "GDPR 没有“人力资源管理”依据：雇佣中的处理应基于合同、法定义务或正当利益，并遵守成员国规则（第88条）"),
    b(L::LegalObligation, R::Gdpr, true, "GDPR Art. 6(1)(c)", "complying with a legal obligation", "履行法定义务所必需"),
    b(L::VitalInterests, R::Gdpr, true, "GDPR Art. 6(1)(d)", "protecting your vital interests or another person's (life, not property)", "保护您或他人的切身利益（生命，不含财产）所必需"),
    b(L::PublicInterest, R::Gdpr, false, "GDPR Art. 6(1)(e), 85", "news reporting is not a GDPR Art. 6 basis: journalism is governed by member-state law under Art. 85; use public_task only for tasks laid down by law", "新闻报道不是 GDPR 第六条的依据：新闻活动由成员国依第85条规定；仅法律规定的公共任务可用 public_task"),
    b(L::PublicTask, R::Gdpr, true, "GDPR Art. 6(1)(e), 6(3)", "a task carried out in the public interest or in official authority, laid down by law", "执行法律规定的公共利益任务或行使公权力所必需"),
    b(L::PublicData, R::Gdpr, false, "GDPR Art. 6(1), 9(2)(e)", "information made public is not an Art. 6 basis (Art. 9(2)(e) only lifts the special-category ban)", "已公开的信息不是第六条的依据（第九条第二款e项仅解除特殊类别的禁止）"),
    b(L::LegitimateInterests, R::Gdpr, true, "GDPR Art. 6(1)(f)", "our legitimate interests, where your interests and rights do not override them", "我们的正当利益，且不被您的利益或基本权利所压倒"),
    // The CCPA regulates notice, opt-outs and opt-ins, not legal bases:
    // every basis may be declared; consent-based purposes still need it.
    b(L::Consent, R::Ccpa, true, "Cal. Civ. Code §1798.140(h)", "your consent", "您的同意"),
    b(L::Contract, R::Ccpa, true, "Cal. Civ. Code §1798.100(a)", "providing the goods or services you asked for (the CCPA lists no legal bases; disclosed at collection)", "提供您所要求的商品或服务（CCPA 不规定合法性基础；在收集时告知）"),
    b(L::HrManagement, R::Ccpa, true, "Cal. Civ. Code §1798.100(a), 1798.145(m)", "employment purposes (disclosed at collection)", "雇佣目的（在收集时告知）"),
    b(L::LegalObligation, R::Ccpa, true, "Cal. Civ. Code §1798.145(a)(1)", "complying with federal, state or local law", "遵守联邦、州或地方法律"),
    b(L::VitalInterests, R::Ccpa, true, "Cal. Civ. Code §1798.145(a)(5)", "acting in an emergency that threatens a person's life or physical safety", "在威胁人身安全的紧急情况下采取行动"),
    b(L::PublicInterest, R::Ccpa, true, "Cal. Civ. Code §1798.100(a)", "a purpose disclosed at collection (the CCPA lists no legal bases)", "在收集时告知的目的（CCPA 不规定合法性基础）"),
    b(L::PublicTask, R::Ccpa, true, "Cal. Civ. Code §1798.145(a)(2)-(3)", "cooperating with law enforcement and government agencies", "配合执法机关和政府机构"),
    b(L::PublicData, R::Ccpa, true, "Cal. Civ. Code §1798.140(v)(2)", "publicly available information (not personal information under the CCPA)", "公开可得信息（依 CCPA 不属于个人信息）"),
    b(L::LegitimateInterests, R::Ccpa, true, "Cal. Civ. Code §1798.100(a), (c)", "a purpose disclosed at collection, reasonably necessary and proportionate", "在收集时告知、合理必要且相称的目的"),
];

/// The row for `basis` under `regime`.
pub fn basis_rule(basis: LegalBasis, regime: Regime) -> Option<&'static BasisRule> {
    BASES.iter().find(|r| r.basis == basis && r.regime == regime)
}

/// Citations of other encoded rules (retention, destruction, deadlines'
/// policy, calendars, suppression), each with what it decides: the
/// remaining tables of the rules page.
#[derive(Debug, Clone, Copy)]
pub struct Cited {
    /// Stable id.
    pub id: &'static str,
    /// The article or source.
    pub citation: &'static str,
    /// What Custodia does because of it.
    pub text_en: &'static str,
}

/// Rules that are not rows of the consent, basis or clock tables.
pub const OTHER_RULES: &[Cited] = &[
    Cited {
        id: "retention-expiry",
        citation: "PIPL Art. 47(1)(2); GDPR Art. 5(1)(e), 17(1)(a)",
        text_en: "when a purpose's retention period ends, its data is deleted (crypto-shredded) by the retention job",
    },
    Cited {
        id: "withdrawal-ends-purpose",
        citation: "PIPL Art. 15, 47(1)(3); GDPR Art. 7(3), 17(1)(b)",
        text_en: "a withdrawn consent ends its purpose at the withdrawal; processing before it stays lawful",
    },
    Cited {
        id: "renewal-on-change",
        citation: "PIPL Art. 14 ¶2; GDPR Art. 4(11), 7 (EDPB Guidelines 05/2020 §3.1.2)",
        text_en: "a material change of purpose, method or kinds of data (new purpose, field, recipient, transfer, longer retention, changed basis) needs consent again",
    },
    Cited {
        id: "pipl-deadline-policy",
        citation: "PIPL Art. 50; GB/T 35273-2020 §8.7; App违法违规收集使用个人信息行为认定方法 (国信办秘字〔2019〕191号) §6(3)",
        text_en: "PIPL sets no number of days: the company's stated policy applies, by default the earlier of 15 working days and 30 calendar days",
    },
    Cited {
        id: "ccpa-business-day",
        citation: "11 CCR §7001; Cal. Civ. Code §7, 9; Cal. Gov. Code §6700; 5 U.S.C. §6103",
        text_en: "a business day is a weekday that is not a holiday under both federal and California law (the earlier reading), unless configured otherwise",
    },
    Cited {
        id: "ccpa-limit-sensitive",
        citation: "Cal. Civ. Code §1798.121; 11 CCR §7027",
        text_en: "a request to limit the use of sensitive personal information needs no verification, is carried out within 15 business days, and stops every purpose using sensitive fields except those §7027(m) allows",
    },
    Cited {
        id: "ccpa-optout-third-parties",
        citation: "11 CCR §7026(f)(2)",
        text_en: "an opt-out of sale or sharing is passed on to every third party the data was sold or shared with (each recorded as told)",
    },
    Cited {
        id: "ccpa-extension-notice",
        citation: "Cal. Civ. Code §1798.130(a)(2)(A); 11 CCR §7021(b)",
        text_en: "an extension of 45 days must be announced, with its reason, within the first 45 days",
    },
    Cited {
        id: "calendar-gap",
        citation: "Custodia policy under PIPL Art. 50, GDPR Art. 12(3), 11 CCR §7021 (never later than the law)",
        text_en: "a deadline in a year the holiday data does not cover is counted in calendar days (never later) and flagged; a new holiday file never moves a deadline already communicated to a later date",
    },
    Cited {
        id: "suppression-list",
        citation: "GDPR Art. 17(1), 5(1)(c), 6(1)(c)/(f); PIPL Art. 47, 13(3); EDPB Guidelines 4/2019 §68",
        text_en: "after an erasure, keyed hashes of identifiers are kept only to stop the person's data coming back (no name or other content), and a new collection needs its own stated basis",
    },
    Cited {
        id: "aml-retention",
        citation: "反洗钱法 (2024 revision, in force 2025-01-01) Art. 34",
        text_en: "customer identification data and transaction records are kept at least ten years after the business relationship or the transaction ends (the default notice's legal_obligation purpose)",
    },
    Cited {
        id: "gdpr-art87-national-id",
        citation: "GDPR Art. 87",
        text_en: "national identification numbers are not special categories under the GDPR; member states may set conditions for them, so they stay sensitive only under PIPL (Art. 28)",
    },
];

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The rules page (`docs/LEGAL-RULES.md`), generated from the tables.
pub fn rules_markdown() -> String {
    let mut o = String::new();
    o.push_str("# Encoded legal rules\n\n");
    o.push_str(
        "Generated from the rule tables of `custodia-core` (`law::rules_markdown`); a test fails when \
         this page and the code differ. Regenerate with \
         `CUSTODIA_WRITE_RULES=1 cargo test -p custodia-core rules_page`.\n\
         Each rule is data with its citation; each table has table-driven tests next to it.\n\n",
    );
    o.push_str("## Legal bases per regime (`law::BASES`)\n\n");
    o.push_str("Publishing a notice that declares a basis its regime does not know is refused, naming the purpose, the basis and the article.\n\n");
    o.push_str("| basis | regime | lawful | citation | meaning or reason |\n|---|---|---|---|---|\n");
    for r in BASES {
        o.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.basis.as_str(),
            r.regime.as_str(),
            if r.lawful { "yes" } else { "**no**" },
            esc(r.citation),
            esc(r.text_en)
        ));
    }
    o.push_str("\n## Consent kinds (`consent::RULES`)\n\n");
    o.push_str("A rule marked *any basis* applies whatever the purpose's legal basis; the others only when the basis is consent.\n\n");
    o.push_str("| id | regime | when | consent | applies | citation | rule |\n|---|---|---|---|---|---|---|\n");
    for r in consent::RULES {
        o.push_str(&format!(
            "| `{}` | {} | {:?} | {} | {} | {} | {} |\n",
            r.id,
            r.regime.as_str(),
            r.trigger,
            r.kind.as_str(),
            if r.any_basis { "any basis" } else { "consent basis" },
            esc(r.citation),
            esc(r.text_en)
        ));
    }
    o.push_str("\n## Request clocks (`rights::clock::RULES`)\n\n");
    o.push_str("| id | regime | requests | step | period | calendar | rolls to a working day | citation | rule |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in clock::RULES {
        o.push_str(&format!(
            "| `{}` | {} | {:?} | {:?} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.regime.as_str(),
            r.applies,
            r.step,
            r.period.describe(),
            r.calendar.as_str(),
            if r.roll_forward { "yes" } else { "no" },
            esc(r.citation),
            esc(r.text_en)
        ));
    }
    o.push_str("\n## Jurisdictions' time zones (`rights::clock::ZONES`)\n\n");
    o.push_str("A request's receipt date is taken in the company's zone and in the regime's; the earlier deadline is kept.\n\n");
    o.push_str("| regime | zone | why |\n|---|---|---|\n");
    for z in clock::ZONES {
        o.push_str(&format!("| {} | {} | {} |\n", z.regime.as_str(), z.zone, esc(z.why)));
    }
    o.push_str("\n## Other rules\n\n| id | citation | what Custodia does |\n|---|---|---|\n");
    for r in OTHER_RULES {
        o.push_str(&format!("| `{}` | {} | {} |\n", r.id, esc(r.citation), esc(r.text_en)));
    }
    o
}

/// Every citation of every table, with the rule's id (for the test that
/// no rule is uncited).
pub fn all_citations() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = Vec::new();
    v.extend(
        BASES
            .iter()
            .map(|r| (format!("basis {} {}", r.basis.as_str(), r.regime.as_str()), r.citation)),
    );
    v.extend(consent::RULES.iter().map(|r| (r.id.to_owned(), r.citation)));
    v.extend(clock::RULES.iter().map(|r| (r.id.to_owned(), r.citation)));
    v.extend(OTHER_RULES.iter().map(|r| (r.id.to_owned(), r.citation)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_basis_has_one_row_per_regime() {
        for basis in LegalBasis::ALL {
            for regime in [Regime::Pipl, Regime::Gdpr, Regime::Ccpa] {
                let n = BASES.iter().filter(|r| r.basis == basis && r.regime == regime).count();
                assert_eq!(n, 1, "{basis:?} under {regime:?}");
            }
        }
        for r in BASES {
            assert!(
                r.text_zh.chars().any(|c| c as u32 > 0x3000),
                "{:?} {:?}",
                r.basis,
                r.regime
            );
        }
    }

    #[test]
    fn bases_known_answers() {
        // (basis, regime, lawful) as counsel reads the texts.
        let table = [
            (L::LegitimateInterests, R::Pipl, false),
            (L::LegitimateInterests, R::Gdpr, true),
            (L::PublicInterest, R::Pipl, true),
            (L::PublicInterest, R::Gdpr, false),
            (L::PublicTask, R::Gdpr, true),
            (L::PublicTask, R::Pipl, false),
            (L::HrManagement, R::Pipl, true),
            (L::HrManagement, R::Gdpr, false),
            (L::PublicData, R::Gdpr, false),
            (L::VitalInterests, R::Gdpr, true),
            (L::Consent, R::Ccpa, true),
        ];
        for (basis, regime, lawful) in table {
            assert_eq!(
                basis_rule(basis, regime).unwrap().lawful,
                lawful,
                "{basis:?} {regime:?}"
            );
        }
        let v = basis_rule(L::VitalInterests, R::Gdpr).unwrap();
        assert!(!v.text_en.contains("property") || v.text_en.contains("not property"));
    }

    #[test]
    fn no_rule_without_a_citation() {
        let all = all_citations();
        assert!(all.len() > 40, "{}", all.len());
        for (id, c) in all {
            let c = c.trim();
            assert!(
                c.len() >= 6 && c.chars().any(|ch| ch.is_ascii_digit()),
                "rule {id} has no citation that names an article: {c:?}"
            );
        }
    }

    #[test]
    fn rules_page_is_generated_from_the_tables() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/LEGAL-RULES.md");
        let want = rules_markdown();
        if std::env::var_os("CUSTODIA_WRITE_RULES").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/LEGAL-RULES.md differs from the rule tables: run CUSTODIA_WRITE_RULES=1 cargo test -p custodia-core rules_page"
        );
        for r in consent::RULES {
            assert!(want.contains(r.id));
        }
    }
}
