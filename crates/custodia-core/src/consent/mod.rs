//! Which kind of consent a processing needs, as data with legal citations.
//!
//! The kind is computed from what a purpose does (field classifications,
//! recipients, public disclosure, cross-border transfer) and who the person
//! is (age), under PIPL and GDPR. The rules are a table ([`RULES`]) so that
//! each carries its citation and each is tested on its own.

use crate::schema::Classification;

pub mod receipt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A kind of consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// Informed, voluntary and explicit consent (PIPL Art. 14; GDPR Art. 4(11), 7).
    General,
    /// Separate consent (单独同意), given for this processing alone.
    Separate,
    /// Consent of a parent or guardian.
    Guardian,
    /// Written consent (书面同意), evidenced by a signed document, where a
    /// law other than PIPL requires it (PIPL Art. 14 ¶2, 29).
    Written,
}

impl ConsentKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::General => "general",
            ConsentKind::Separate => "separate",
            ConsentKind::Guardian => "guardian",
            ConsentKind::Written => "written",
        }
    }

    /// Parse a snake_case name (a stored kind this build does not know is
    /// an error for the caller, never a default).
    pub fn parse(s: &str) -> Option<ConsentKind> {
        match s {
            "general" => Some(ConsentKind::General),
            "separate" => Some(ConsentKind::Separate),
            "guardian" => Some(ConsentKind::Guardian),
            "written" => Some(ConsentKind::Written),
            _ => None,
        }
    }
}

/// The legal regime a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// Personal Information Protection Law of the PRC.
    Pipl,
    /// EU General Data Protection Regulation.
    Gdpr,
    /// California Consumer Privacy Act (as amended by the CPRA) and its
    /// regulations (11 CCR §7000 ff.). Mostly opt-out based; consent where
    /// the business relies on it, and opt-in for minors' sale or sharing
    /// and for financial incentives.
    Ccpa,
}

impl Regime {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Pipl => "pipl",
            Regime::Gdpr => "gdpr",
            Regime::Ccpa => "ccpa",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<Regime> {
        match s {
            "pipl" => Some(Regime::Pipl),
            "gdpr" => Some(Regime::Gdpr),
            "ccpa" => Some(Regime::Ccpa),
            _ => None,
        }
    }
}

/// What makes a rule apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Any processing based on consent.
    AnyConsent,
    /// Sensitive personal information (PIPL Art. 28) is processed.
    SensitiveData,
    /// GDPR special-category data (Art. 9(1)) is processed and the purpose's
    /// Art. 9(2) condition is the person's explicit consent.
    SpecialCategoryByConsent,
    /// A transfer outside the EEA rests on the person's explicit consent
    /// (Art. 49(1)(a)): no adequacy decision (Art. 45) and no appropriate
    /// safeguards (Art. 46).
    TransferByConsent,
    /// The purpose offers a financial incentive for the data (CCPA).
    FinancialIncentive,
    /// A law other than PIPL requires written consent for this purpose.
    WrittenRequired,
    /// The data is provided to another personal-information handler (a
    /// controller, not a processor acting on our behalf).
    SharedWithController,
    /// The data is made public.
    PublicDisclosure,
    /// The data leaves the country.
    CrossBorder,
    /// The person is younger than the regime's age of consent.
    Minor,
    /// The data is sold or shared (given to another controller) and the
    /// person is younger than this (the CCPA's opt-in ages are statutory).
    SoldOrSharedUnder(u32),
}

/// One rule: when `trigger` holds under `regime`, consent of `kind` is needed.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id.
    pub id: &'static str,
    /// Regime.
    pub regime: Regime,
    /// Condition.
    pub trigger: Trigger,
    /// Whether the rule applies whatever the purpose's legal basis (an
    /// opt-in the law requires on top of the basis); otherwise only when
    /// the basis is consent (PIPL Art. 13 ¶2: other bases need none).
    pub any_basis: bool,
    /// Consent needed.
    pub kind: ConsentKind,
    /// Legal citation.
    pub citation: &'static str,
    /// Why, in English.
    pub text_en: &'static str,
    /// Why, in Chinese.
    pub text_zh: &'static str,
}

/// The rules.
pub const RULES: &[Rule] = &[
    Rule {
        id: "pipl-14",
        regime: Regime::Pipl,
        trigger: Trigger::AnyConsent,
        any_basis: false,
        kind: ConsentKind::General,
        citation: "PIPL Art. 14",
        text_en: "consent must be informed, voluntary and explicit",
        text_zh: "同意应当由个人在充分知情的前提下自愿、明确作出",
    },
    Rule {
        id: "pipl-29",
        regime: Regime::Pipl,
        trigger: Trigger::SensitiveData,
        any_basis: false,
        kind: ConsentKind::Separate,
        citation: "PIPL Art. 29",
        text_en: "processing sensitive personal information needs separate consent",
        text_zh: "处理敏感个人信息应当取得个人的单独同意",
    },
    Rule {
        id: "pipl-23",
        regime: Regime::Pipl,
        trigger: Trigger::SharedWithController,
        any_basis: false,
        kind: ConsentKind::Separate,
        citation: "PIPL Art. 23",
        text_en: "providing personal information to another handler needs separate consent",
        text_zh: "向其他个人信息处理者提供其处理的个人信息，应当取得个人的单独同意",
    },
    Rule {
        id: "pipl-25",
        regime: Regime::Pipl,
        trigger: Trigger::PublicDisclosure,
        any_basis: false,
        kind: ConsentKind::Separate,
        citation: "PIPL Art. 25",
        text_en: "disclosing personal information publicly needs separate consent",
        text_zh: "公开其处理的个人信息，应当取得个人的单独同意",
    },
    Rule {
        id: "pipl-39",
        regime: Regime::Pipl,
        trigger: Trigger::CrossBorder,
        any_basis: false,
        kind: ConsentKind::Separate,
        citation: "PIPL Art. 39",
        text_en: "providing personal information outside the PRC needs separate consent",
        text_zh: "向中华人民共和国境外提供个人信息的，应当取得个人的单独同意",
    },
    Rule {
        id: "pipl-31",
        regime: Regime::Pipl,
        trigger: Trigger::Minor,
        any_basis: false,
        kind: ConsentKind::Guardian,
        citation: "PIPL Art. 31",
        text_en: "information of a minor under 14 needs the consent of a parent or guardian",
        text_zh: "处理不满十四周岁未成年人个人信息的，应当取得未成年人的父母或者其他监护人的同意",
    },
    Rule {
        id: "pipl-28-minor",
        regime: Regime::Pipl,
        trigger: Trigger::Minor,
        any_basis: false,
        kind: ConsentKind::Separate,
        citation: "PIPL Art. 28, 29",
        text_en: "information of a minor under 14 is sensitive and needs separate consent",
        text_zh: "不满十四周岁未成年人的个人信息属于敏感个人信息，应当取得单独同意",
    },
    Rule {
        id: "gdpr-7",
        regime: Regime::Gdpr,
        trigger: Trigger::AnyConsent,
        any_basis: false,
        kind: ConsentKind::General,
        citation: "GDPR Art. 4(11), 7",
        text_en: "consent must be freely given, specific, informed and unambiguous",
        text_zh: "同意须自由作出、具体、知情且明确",
    },
    Rule {
        id: "gdpr-9",
        regime: Regime::Gdpr,
        trigger: Trigger::SpecialCategoryByConsent,
        any_basis: true,
        kind: ConsentKind::Separate,
        citation: "GDPR Art. 9(2)(a)",
        text_en: "special-category data whose Art. 9(2) condition is consent needs explicit consent for this specific purpose, whatever the Art. 6 basis",
        text_zh: "以明示同意作为第九条第二款处理条件的特殊类别数据，无论第六条依据为何，均须就特定目的取得明示同意",
    },
    Rule {
        id: "gdpr-49",
        regime: Regime::Gdpr,
        trigger: Trigger::TransferByConsent,
        any_basis: true,
        kind: ConsentKind::Separate,
        citation: "GDPR Art. 49(1)(a); EDPB Guidelines 2/2018 §2.1",
        text_en: "a transfer without adequacy or safeguards needs explicit consent after being told the risks",
        text_zh: "在无充分性认定或适当保障措施时的跨境传输，须在告知风险后取得明示同意",
    },
    Rule {
        id: "gdpr-8",
        regime: Regime::Gdpr,
        trigger: Trigger::Minor,
        any_basis: false,
        kind: ConsentKind::Guardian,
        citation: "GDPR Art. 8(1)",
        text_en: "a child below the age of digital consent needs the holder of parental responsibility to consent",
        text_zh: "未达数字同意年龄的儿童须由监护人同意",
    },
    Rule {
        id: "ccpa-consent",
        regime: Regime::Ccpa,
        trigger: Trigger::AnyConsent,
        any_basis: false,
        kind: ConsentKind::General,
        citation: "Cal. Civ. Code §1798.140(h); 11 CCR §7004",
        text_en: "consent must be a freely given, specific, informed and unambiguous indication, not obtained through dark patterns",
        text_zh: "同意须为自由作出、具体、知情且明确的意思表示，不得通过误导性设计取得",
    },
    Rule {
        id: "ccpa-120c-16",
        regime: Regime::Ccpa,
        trigger: Trigger::SoldOrSharedUnder(16),
        any_basis: true,
        kind: ConsentKind::Separate,
        citation: "Cal. Civ. Code §1798.120(c); 11 CCR §7070(a)",
        text_en: "a consumer under 16 must opt in, affirmatively, before their personal information is sold or shared",
        text_zh: "出售或共享未满16周岁消费者的个人信息前，须取得其本人的明确选择加入",
    },
    Rule {
        id: "ccpa-120c-13",
        regime: Regime::Ccpa,
        trigger: Trigger::SoldOrSharedUnder(13),
        any_basis: true,
        kind: ConsentKind::Guardian,
        citation: "Cal. Civ. Code §1798.120(c); 11 CCR §7070(a)-(b)",
        text_en: "a consumer under 13 needs a parent or guardian to opt in before their personal information is sold or shared",
        text_zh: "出售或共享未满13周岁消费者的个人信息前，须取得其父母或监护人的选择加入",
    },
    Rule {
        id: "ccpa-125b3",
        regime: Regime::Ccpa,
        trigger: Trigger::FinancialIncentive,
        any_basis: true,
        kind: ConsentKind::General,
        citation: "Cal. Civ. Code §1798.125(b)(3); 11 CCR §7016",
        text_en: "a financial incentive needs the consumer's prior opt-in consent, revocable at any time, after the notice of financial incentive",
        text_zh: "提供经济激励前，须在告知经济激励条款后取得消费者的事先选择加入同意，且可随时撤回",
    },
    Rule {
        id: "pipl-14-written",
        regime: Regime::Pipl,
        trigger: Trigger::WrittenRequired,
        any_basis: true,
        kind: ConsentKind::Written,
        citation: "PIPL Art. 14 ¶2, Art. 29 ¶2 (written consent where another law requires it, e.g. 征信业管理条例 Art. 14, 18)",
        text_en: "where a law or administrative regulation requires written consent, it must be written and evidenced by the signed document",
        text_zh: "法律、行政法规规定应当取得书面同意的，从其规定，并以签署的文件为证",
    },
];

/// Ages of consent (PIPL Art. 31 fixes 14; GDPR Art. 8 says 16 unless a
/// member state lowers it, to no less than 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ages {
    /// PIPL: under this age, guardian consent.
    pub pipl: u32,
    /// GDPR: under this age, parental consent.
    pub gdpr: u32,
}

impl Default for Ages {
    fn default() -> Self {
        Ages { pipl: 14, gdpr: 16 }
    }
}

/// What a processing does and to whom.
#[derive(Debug, Clone, Default)]
pub struct Processing {
    /// Whether the legal basis is consent (rules that are not `any_basis`
    /// apply only then).
    pub consent_basis: bool,
    /// Classifications of the fields used.
    pub classes: BTreeSet<Classification>,
    /// GDPR special-category data is used and its Art. 9(2) condition is
    /// explicit consent.
    pub special_category_by_consent: bool,
    /// Data goes to another controller.
    pub shared_with_controller: bool,
    /// Data is made public.
    pub public_disclosure: bool,
    /// Data leaves the country (any transfer; PIPL Art. 39).
    pub cross_border: bool,
    /// A transfer rests on explicit consent (GDPR Art. 49(1)(a)).
    pub transfer_by_consent: bool,
    /// A financial incentive is offered (CCPA).
    pub financial_incentive: bool,
    /// Another law requires written consent.
    pub written_required: bool,
    /// The person's age, when known.
    pub age: Option<u32>,
}

/// The consent a processing needs, and the rules that say so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirement {
    /// Kinds needed (empty: no consent needed).
    pub kinds: BTreeSet<ConsentKind>,
    /// Ids of the rules that applied.
    pub rules: Vec<&'static str>,
}

impl Requirement {
    /// Whether consent of some kind is needed.
    pub fn needed(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// The citations of the rules that applied.
    pub fn citations(&self) -> Vec<&'static str> {
        self.rules
            .iter()
            .filter_map(|id| RULES.iter().find(|r| r.id == *id).map(|r| r.citation))
            .collect()
    }
}

/// The consent `p` needs under `regimes`.
pub fn required(p: &Processing, regimes: &[Regime], ages: Ages) -> Requirement {
    let mut out = Requirement::default();
    for rule in RULES
        .iter()
        .filter(|r| regimes.contains(&r.regime) && (r.any_basis || p.consent_basis))
    {
        let applies = match rule.trigger {
            Trigger::SoldOrSharedUnder(age) => p.shared_with_controller && p.age.is_some_and(|a| a < age),
            Trigger::SpecialCategoryByConsent => p.special_category_by_consent,
            Trigger::TransferByConsent => p.transfer_by_consent,
            Trigger::FinancialIncentive => p.financial_incentive,
            Trigger::WrittenRequired => p.written_required,
            Trigger::AnyConsent => true,
            Trigger::SensitiveData => p.classes.contains(&Classification::Sensitive),
            Trigger::SharedWithController => p.shared_with_controller,
            Trigger::PublicDisclosure => p.public_disclosure,
            Trigger::CrossBorder => p.cross_border,
            Trigger::Minor => {
                let limit = if rule.regime == Regime::Pipl {
                    ages.pipl
                } else {
                    ages.gdpr
                };
                p.age.is_some_and(|a| a < limit)
            }
        };
        if applies {
            out.kinds.insert(rule.kind);
            out.rules.push(rule.id);
        }
    }
    out
}

/// How a consent (or its withdrawal) was collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A web page (including Custodia's privacy portal).
    Web,
    /// A mobile or desktop application.
    App,
    /// A signed paper form.
    Paper,
    /// A recorded phone call.
    Phone,
    /// In person, with a member of staff.
    InPerson,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 5] = [
        Channel::Web,
        Channel::App,
        Channel::Paper,
        Channel::Phone,
        Channel::InPerson,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
            Channel::Paper => "paper",
            Channel::Phone => "phone",
            Channel::InPerson => "in_person",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Who gave (or withdrew) a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GivenBy {
    /// The customer.
    #[default]
    Subject,
    /// A parent or guardian (PIPL Art. 31; GDPR Art. 8).
    Guardian,
}

impl GivenBy {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GivenBy::Subject => "subject",
            GivenBy::Guardian => "guardian",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<GivenBy> {
        match s {
            "subject" => Some(GivenBy::Subject),
            "guardian" => Some(GivenBy::Guardian),
            _ => None,
        }
    }
}

/// How a consent was asked for: what the collector asserts, checked against
/// the [`Requirement`] before a receipt is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// The purpose was presented on its own, not bundled with others or
    /// with the general terms (单独同意).
    pub separately: bool,
    /// Who answered.
    pub by: GivenBy,
    /// A signed document evidences it (its SHA-256 is on the receipt).
    pub written: bool,
}

/// Why an offered consent does not meet its requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsentDefect {
    /// Separate consent is required but the purpose was bundled.
    #[error("this purpose needs separate consent: ask for it on its own and record it as separate")]
    NotSeparate,
    /// The person is a minor and the consent did not come from a guardian.
    #[error("the customer is under the age of consent: a parent or guardian must give it")]
    NotGuardian,
    /// Written consent is required and no signed document was recorded.
    #[error("this purpose needs written consent: record the SHA-256 of the signed document (document_sha256)")]
    NotWritten,
}

/// Check that consent asked for as `asked` satisfies `req`; on success the
/// receipt records the kinds it satisfies.
pub fn check_offer(req: &Requirement, asked: Asked) -> Result<BTreeSet<ConsentKind>, ConsentDefect> {
    if req.kinds.contains(&ConsentKind::Guardian) && asked.by != GivenBy::Guardian {
        return Err(ConsentDefect::NotGuardian);
    }
    if req.kinds.contains(&ConsentKind::Separate) && !asked.separately {
        return Err(ConsentDefect::NotSeparate);
    }
    if req.kinds.contains(&ConsentKind::Written) && !asked.written {
        return Err(ConsentDefect::NotWritten);
    }
    let mut kinds = req.kinds.clone();
    if asked.written {
        kinds.insert(ConsentKind::Written);
    }
    if asked.separately {
        kinds.insert(ConsentKind::Separate);
    }
    if asked.by == GivenBy::Guardian {
        kinds.insert(ConsentKind::Guardian);
    }
    Ok(kinds)
}

/// The latest recorded answer of a customer for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentFact {
    /// Given (true) or withdrawn (false).
    pub given: bool,
    /// The notice version the person was shown.
    pub notice_version: u32,
    /// The kinds of consent the answer satisfied.
    pub kinds: BTreeSet<ConsentKind>,
}

/// Where a customer stands for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConsentState {
    /// The purpose's legal basis is not consent.
    NotNeeded,
    /// Consent of every required kind is in force.
    Active,
    /// No answer was ever recorded.
    NeverGiven,
    /// The latest answer is a withdrawal.
    Withdrawn,
    /// Given under a notice version older than the last material change of
    /// the purpose (PIPL Art. 14 ¶2).
    RenewalNeeded {
        /// Version the consent was given under.
        given_under: u32,
        /// Version that changed the purpose materially.
        changed_in: u32,
    },
    /// Given, but not of every kind now required (e.g. the customer turned
    /// out to be a minor, or the purpose now uses sensitive data).
    KindMissing {
        /// The kinds missing.
        missing: BTreeSet<ConsentKind>,
    },
}

impl ConsentState {
    /// Whether processing may go ahead.
    pub fn allows(&self) -> bool {
        matches!(self, ConsentState::NotNeeded | ConsentState::Active)
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ConsentState::NotNeeded => "not_needed",
            ConsentState::Active => "active",
            ConsentState::NeverGiven => "never_given",
            ConsentState::Withdrawn => "withdrawn",
            ConsentState::RenewalNeeded { .. } => "renewal_needed",
            ConsentState::KindMissing { .. } => "kind_missing",
        }
    }

    /// Why processing is refused, in English (empty when allowed).
    pub fn reason_en(&self) -> String {
        match self {
            ConsentState::NotNeeded | ConsentState::Active => String::new(),
            ConsentState::NeverGiven => "the customer has not given it".into(),
            ConsentState::Withdrawn => "the customer withdrew it".into(),
            ConsentState::RenewalNeeded { given_under, changed_in } => format!(
                "it was given under notice version {given_under}, and version {changed_in} changed this purpose materially; ask again"
            ),
            ConsentState::KindMissing { missing } => format!(
                "the consent on record lacks the {} consent now required",
                missing.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" and ")
            ),
        }
    }
}

/// Evaluate the latest answer against what is required now. `floor` is the
/// notice version that last changed the purpose materially.
pub fn evaluate(req: &Requirement, floor: u32, latest: Option<&ConsentFact>) -> ConsentState {
    if !req.needed() {
        return ConsentState::NotNeeded;
    }
    let Some(f) = latest else {
        return ConsentState::NeverGiven;
    };
    if !f.given {
        return ConsentState::Withdrawn;
    }
    if f.notice_version < floor {
        return ConsentState::RenewalNeeded {
            given_under: f.notice_version,
            changed_in: floor,
        };
    }
    let missing: BTreeSet<ConsentKind> = req.kinds.difference(&f.kinds).copied().collect();
    if !missing.is_empty() {
        return ConsentState::KindMissing { missing };
    }
    ConsentState::Active
}

/// Age in whole years on `today` of someone born on `birth`.
pub fn age_on(birth: chrono::NaiveDate, today: chrono::NaiveDate) -> u32 {
    use chrono::Datelike;
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

#[cfg(test)]
mod tests;
