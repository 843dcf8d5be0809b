//! Versioned privacy notices: what is collected for which purpose, on which
//! legal basis, kept how long, shared with whom, sent where — and what
//! changed between two versions, so that a material change can require
//! consent again (PIPL Art. 14: a change of purpose, method or data type
//! needs new consent).

use crate::consent::{self, Ages, ConsentKind, Processing, Regime, Requirement};
use crate::ids::{FieldName, Purpose};
use crate::policy::PolicyError;
pub use crate::schema::SpecialCategory;
use crate::schema::{Classification, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The notice shipped with Custodia (fits the default schema); published as
/// version 1 when a data directory is created.
pub const DEFAULT_NOTICE_TOML: &str = include_str!("../../data/default-notice.toml");

/// The legal basis of a purpose (PIPL Art. 13; GDPR Art. 6). Which bases
/// each regime knows is the table [`crate::law::BASES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// The person's consent (PIPL 13(1); GDPR 6(1)(a)).
    Consent,
    /// A contract with the person (PIPL 13(2); GDPR 6(1)(b)).
    Contract,
    /// Human-resources management under labour rules (PIPL 13(2)).
    HrManagement,
    /// A legal duty or obligation (PIPL 13(3); GDPR 6(1)(c)).
    LegalObligation,
    /// Protecting life, health (PIPL 13(4) also property) in an emergency;
    /// GDPR 6(1)(d) covers vital interests only.
    VitalInterests,
    /// News reporting and supervision in the public interest (PIPL 13(5));
    /// not a GDPR basis (journalism is Art. 85, left to member states).
    PublicInterest,
    /// A task carried out in the public interest or in official authority
    /// (GDPR 6(1)(e)); under PIPL a statutory duty is 13(3).
    PublicTask,
    /// Information the person made public (PIPL 13(6)).
    PublicData,
    /// Legitimate interests (GDPR 6(1)(f); no PIPL equivalent).
    LegitimateInterests,
}

impl LegalBasis {
    /// Every basis.
    pub const ALL: [LegalBasis; 9] = [
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::HrManagement,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicInterest,
        LegalBasis::PublicTask,
        LegalBasis::PublicData,
        LegalBasis::LegitimateInterests,
    ];

    /// Whether processing on this basis needs consent.
    pub fn needs_consent(self) -> bool {
        self == LegalBasis::Consent
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::HrManagement => "hr_management",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::VitalInterests => "vital_interests",
            LegalBasis::PublicInterest => "public_interest",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::PublicData => "public_data",
            LegalBasis::LegitimateInterests => "legitimate_interests",
        }
    }
}

/// A text in both languages a person reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bilingual {
    /// English.
    #[serde(default)]
    pub en: String,
    /// Chinese.
    #[serde(default)]
    pub zh: String,
}

impl Bilingual {
    /// Whether both languages say something.
    pub fn complete(&self) -> bool {
        !self.en.trim().is_empty() && !self.zh.trim().is_empty()
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Language) -> &str {
        lang.pick(self.en.trim(), self.zh.trim())
    }
}

/// The Art. 9(2) condition that lifts the ban on special categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Art9Condition {
    /// (a) explicit consent for specified purposes.
    ExplicitConsent,
    /// (b) obligations in employment and social security law.
    Employment,
    /// (c) vital interests of a person physically or legally incapable of consent.
    VitalInterests,
    /// (d) a not-for-profit body's members.
    NotForProfit,
    /// (e) manifestly made public by the person.
    MadePublic,
    /// (f) legal claims or courts.
    LegalClaims,
    /// (g) substantial public interest under Union or member-state law.
    SubstantialPublicInterest,
    /// (h) preventive or occupational medicine, health or social care.
    HealthCare,
    /// (i) public health.
    PublicHealth,
    /// (j) archiving, research or statistics (Art. 89(1)).
    Archiving,
}

/// What a transfer outside the EEA rests on (GDPR Chapter V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferSafeguard {
    /// An adequacy decision for the destination (Art. 45).
    Adequacy,
    /// Appropriate safeguards: standard contractual clauses, binding
    /// corporate rules and the like (Art. 46, 47).
    AppropriateSafeguards,
    /// Neither: the person's explicit consent after being told the risks
    /// (Art. 49(1)(a)); EDPB Guidelines 2/2018 read it narrowly.
    ExplicitConsent,
}

/// When a retention period starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionStart {
    /// When the data was collected.
    Collection,
    /// When the contract with the person ended.
    ContractEnd,
    /// The person's last activity.
    LastActivity,
    /// When consent was withdrawn.
    Withdrawal,
}

/// How long data is kept for a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days.
    #[serde(default)]
    pub days: u32,
    /// Months.
    #[serde(default)]
    pub months: u32,
    /// Years.
    #[serde(default)]
    pub years: u32,
    /// From which event.
    pub from: RetentionStart,
}

impl Retention {
    /// Approximate length in days (an upper bound), for "is there any".
    pub fn approx_days(&self) -> u64 {
        self.days as u64 + self.months as u64 * 31 + self.years as u64 * 366
    }

    /// The last day of the period for data whose period starts on `from`
    /// (months and years on the calendar, clamped to the month's end).
    pub fn end_from(&self, from: chrono::NaiveDate) -> chrono::NaiveDate {
        let months = self.years.saturating_mul(12).saturating_add(self.months);
        from.checked_add_months(chrono::Months::new(months))
            .and_then(|d| d.checked_add_days(chrono::Days::new(self.days as u64)))
            .unwrap_or(chrono::NaiveDate::MAX)
    }

    /// How `self` compares with `old` as a period: `Greater` when it can
    /// end later for some start date (so "12 months" and "1 year" are
    /// equal, and "1 month" against "30 days" counts as longer), `Less`
    /// only when it ends earlier for every start. Every start date of a
    /// four-year cycle is tried.
    pub fn compare(&self, old: &Retention) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date");
        let (mut later, mut all_earlier) = (false, true);
        for i in 0..1461u64 {
            let d = start + chrono::Days::new(i);
            let (a, b) = (self.end_from(d), old.end_from(d));
            later |= a > b;
            all_earlier &= a < b;
        }
        if later {
            Ordering::Greater
        } else if all_earlier {
            Ordering::Less
        } else {
            Ordering::Equal
        }
    }
}

/// Who receives the data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Name.
    pub name: String,
    /// `processor` (acts for us) or `controller` (another handler).
    pub role: RecipientRole,
    /// How to reach the recipient (PIPL Art. 23: required for a controller).
    #[serde(default)]
    pub contact: String,
    /// What the recipient does with the data (PIPL Art. 23).
    #[serde(default)]
    pub purpose: Bilingual,
    /// How it processes the data (PIPL Art. 23).
    #[serde(default)]
    pub method: Bilingual,
    /// The fields it receives (PIPL Art. 23: the kinds of information).
    #[serde(default)]
    pub fields: Vec<FieldName>,
}

/// A recipient's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// Processes on our behalf (PIPL Art. 21; GDPR Art. 28).
    Processor,
    /// Another handler deciding its own purposes (PIPL Art. 23).
    Controller,
}

/// A transfer out of the country.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Destination country (ISO 3166 alpha-2).
    pub country: String,
    /// Receiving party.
    pub recipient: String,
    /// Legal mechanism (PIPL Art. 38: security assessment, certification, standard contract).
    pub mechanism: String,
    /// The overseas recipient's contact (PIPL Art. 39).
    #[serde(default)]
    pub contact: String,
    /// What it does with the data (PIPL Art. 39).
    #[serde(default)]
    pub purpose: Bilingual,
    /// How it processes the data (PIPL Art. 39).
    #[serde(default)]
    pub method: Bilingual,
    /// The fields sent (PIPL Art. 39: the kinds of information).
    #[serde(default)]
    pub fields: Vec<FieldName>,
    /// How the person exercises their rights against the overseas
    /// recipient (PIPL Art. 39).
    #[serde(default)]
    pub rights: Bilingual,
    /// Under the GDPR: what the transfer rests on (Art. 45, 46 or 49).
    #[serde(default)]
    pub safeguard: Option<TransferSafeguard>,
    /// Under Art. 49(1)(a): the risks of the transfer, told before consent.
    #[serde(default)]
    pub risks: Bilingual,
}

/// One purpose as the notice describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeNotice {
    /// The purpose (from the schema's catalog).
    pub id: Purpose,
    /// Legal basis.
    pub basis: LegalBasis,
    /// Fields used.
    pub fields: Vec<FieldName>,
    /// Retention.
    pub retention: Retention,
    /// Recipients.
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// Cross-border transfers.
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    /// Whether the data is made public.
    #[serde(default)]
    pub public_disclosure: bool,
    /// Why sensitive fields are necessary (PIPL Art. 30), in English.
    #[serde(default)]
    pub necessity_en: String,
    /// The same, in Chinese.
    #[serde(default)]
    pub necessity_zh: String,
    /// The impact on the person's rights of processing sensitive fields
    /// (PIPL Art. 30).
    #[serde(default)]
    pub impact: Bilingual,
    /// Under the GDPR, for special-category fields: the Art. 9(2) condition
    /// (required whatever the Art. 6 basis).
    #[serde(default)]
    pub special_category_condition: Option<Art9Condition>,
    /// The terms of a financial incentive offered for the data (CCPA
    /// §1798.125(b); 11 CCR §7016): the consumer must opt in.
    #[serde(default)]
    pub financial_incentive: Option<Bilingual>,
    /// The law that requires written consent for this purpose (PIPL Art.
    /// 14 ¶2, 29 ¶2 defer to it; e.g. 征信业管理条例 Art. 14, 18).
    #[serde(default)]
    pub written_consent: Option<String>,
    /// Under the CCPA: the purpose uses sensitive personal information only
    /// as 11 CCR §7027(m) allows, so it goes on after a request to limit.
    #[serde(default)]
    pub limit_exempt: bool,
    /// Whether this purpose justifies collecting its fields. Purposes that
    /// only use data held for other purposes (answering the customer's own
    /// requests, incident response) say `false`; the minimum-necessary rule
    /// counts only collecting purposes.
    #[serde(default = "yes")]
    pub collects: bool,
    /// Whether the purpose may go on while the customer has processing
    /// restricted (GDPR Art. 18(2): storage, legal claims, protecting
    /// others' rights, important public interest).
    #[serde(default)]
    pub allowed_when_restricted: bool,
    /// Whether an objection stops it (direct marketing, GDPR Art. 21(3);
    /// purposes that sell or share data stop on a CCPA opt-out anyway).
    #[serde(default)]
    pub objectable: bool,
}

fn yes() -> bool {
    true
}

fn default_regimes() -> Vec<Regime> {
    vec![Regime::Pipl]
}

/// The organisation responsible for the processing (named in receipts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    /// Legal name.
    pub name: String,
    /// Contact office or person (e.g. the personal-information protection officer).
    #[serde(default)]
    pub contact: String,
    /// Postal address.
    #[serde(default)]
    pub address: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// Phone.
    #[serde(default)]
    pub phone: String,
}

/// Language of a text a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Language {
    /// `en` or `zh`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }

    /// Parse `en`/`zh` (also `zh_CN`, `en_US` and the like).
    pub fn parse(s: &str) -> Option<Language> {
        let s = s.to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Language::Zh)
        } else if s.starts_with("en") {
            Some(Language::En)
        } else {
            None
        }
    }

    /// `en` or `zh`, whichever is this language's.
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Language::En => en,
            Language::Zh => zh,
        }
    }
}

impl PurposeNotice {
    /// Whether the purpose sells or shares data with another controller or
    /// abroad (stopped by an opt-out of sale or sharing).
    pub fn shares(&self) -> bool {
        self.recipients.iter().any(|r| r.role == RecipientRole::Controller) || !self.transfers.is_empty()
    }

    /// The controllers the purpose gives data to (told of an opt-out of
    /// sale or sharing, 11 CCR §7026(f)).
    pub fn third_parties(&self) -> Vec<&str> {
        self.recipients
            .iter()
            .filter(|r| r.role == RecipientRole::Controller)
            .map(|r| r.name.as_str())
            .chain(self.transfers.iter().map(|t| t.recipient.as_str()))
            .collect()
    }

    /// Whether the purpose uses fields of `class`.
    pub fn uses(&self, schema: &Schema, class: Classification) -> bool {
        self.fields
            .iter()
            .any(|f| schema.field(f.as_str()).is_some_and(|d| d.classification == class))
    }

    /// Whether the purpose uses GDPR special-category fields.
    pub fn uses_special_category(&self, schema: &Schema) -> bool {
        self.fields
            .iter()
            .any(|f| schema.field(f.as_str()).is_some_and(|d| d.special_category.is_some()))
    }
}

impl LegalBasis {
    /// What people read under `regimes`: the basis as the first regime
    /// that knows it words it, with the article of each regime that does.
    pub fn describe(self, lang: Language, regimes: &[Regime]) -> String {
        let rules: Vec<&crate::law::BasisRule> = regimes
            .iter()
            .filter_map(|r| crate::law::basis_rule(self, *r))
            .filter(|b| b.lawful)
            .collect();
        let Some(first) = rules.first() else {
            return self.as_str().to_owned();
        };
        let cites: Vec<&str> = rules.iter().map(|b| b.citation).collect();
        match lang {
            Language::En => format!("{} ({})", first.text_en, cites.join("; ")),
            Language::Zh => format!("{}（{}）", first.text_zh, cites.join("；")),
        }
    }
}

impl Retention {
    /// What people read, e.g. "3 years from the end of the contract".
    pub fn describe(&self, lang: Language) -> String {
        let mut parts = Vec::new();
        for (n, en, zh) in [
            (self.years, "year", "年"),
            (self.months, "month", "个月"),
            (self.days, "day", "天"),
        ] {
            if n > 0 {
                parts.push(match lang {
                    Language::En => format!("{n} {en}{}", if n == 1 { "" } else { "s" }),
                    Language::Zh => format!("{n}{zh}"),
                });
            }
        }
        let from = match self.from {
            RetentionStart::Collection => lang.pick("from collection", "自收集之日起"),
            RetentionStart::ContractEnd => lang.pick("from the end of the contract", "自合同终止之日起"),
            RetentionStart::LastActivity => lang.pick("from your last activity", "自您最后一次使用服务之日起"),
            RetentionStart::Withdrawal => lang.pick("from withdrawal of consent", "自撤回同意之日起"),
        };
        match lang {
            Language::En => format!("{} {from}", parts.join(" ")),
            Language::Zh => format!("{from}{}", parts.join("")),
        }
    }
}

/// A privacy notice version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Version number (increasing).
    pub version: u32,
    /// Effective date (YYYY-MM-DD).
    pub effective: String,
    /// Title, English.
    pub title_en: String,
    /// Title, Chinese.
    pub title_zh: String,
    /// Free text, English.
    pub body_en: String,
    /// Free text, Chinese.
    pub body_zh: String,
    /// The laws the notice is issued under (default: PIPL).
    #[serde(default = "default_regimes")]
    pub regimes: Vec<Regime>,
    /// Ages of consent.
    #[serde(default)]
    pub ages: Ages,
    /// The date field holding the customer's birth date, used to tell
    /// minors (PIPL Art. 31; GDPR Art. 8).
    #[serde(default)]
    pub birth_date_field: Option<FieldName>,
    /// Where the notice is published (put in receipts).
    #[serde(default)]
    pub policy_url: String,
    /// The organisation responsible.
    pub controller: Controller,
    /// The purposes.
    pub purposes: Vec<PurposeNotice>,
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle).map(|i| line_at(text, i)).unwrap_or(0)
}

impl Notice {
    /// The date this version takes effect (validated when read).
    pub fn effective_date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.effective, "%Y-%m-%d").ok()
    }

    /// Parse and check a notice for publishing: its shape against the
    /// schema ([`Notice::parse`]) and what the law requires it to say
    /// ([`Notice::legal_defects`]), each problem with its line.
    pub fn from_toml(text: &str, schema: &Schema) -> Result<Notice, Vec<PolicyError>> {
        let n = Notice::parse(text, schema)?;
        let mut errors: Vec<PolicyError> = n
            .legal_defects(schema)
            .into_iter()
            .map(|d| PolicyError {
                line: line_of(text, &d.anchor),
                message: d.message,
            })
            .collect();
        if errors.is_empty() {
            return Ok(n);
        }
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }

    /// Parse a notice and check its shape against the schema, without the
    /// legal checks: how a version already published is read again, so a
    /// version in force stays readable after a build adds a check (it is
    /// flagged by [`Notice::legal_defects`] instead).
    pub fn parse(text: &str, schema: &Schema) -> Result<Notice, Vec<PolicyError>> {
        let n: Notice = toml::from_str(text).map_err(|e| {
            vec![PolicyError {
                line: e.span().map(|s| line_at(text, s.start)).unwrap_or(0),
                message: e.message().to_owned(),
            }]
        })?;
        let mut errors = Vec::new();
        let mut err = |needle: &str, message: String| {
            errors.push(PolicyError {
                line: line_of(text, needle),
                message,
            })
        };
        if chrono::NaiveDate::parse_from_str(&n.effective, "%Y-%m-%d").is_err() {
            err("effective", "effective must be a date written YYYY-MM-DD".into());
        }
        if n.title_en.trim().is_empty()
            || n.title_zh.trim().is_empty()
            || n.body_en.trim().is_empty()
            || n.body_zh.trim().is_empty()
        {
            err(
                "title",
                "a notice needs its title and text in both English and Chinese".into(),
            );
        }
        if n.controller.name.trim().is_empty() {
            err(
                "[controller]",
                "the notice must name the controller ([controller] name = …)".into(),
            );
        }
        if n.regimes.is_empty() {
            err("regimes", "name at least one regime (\"pipl\", \"gdpr\")".into());
        }
        if n.ages.gdpr < 13 || n.ages.gdpr > 16 {
            err("gdpr", "GDPR Art. 8 allows an age of consent from 13 to 16".into());
        }
        if n.ages.pipl != 14 {
            err("pipl", "PIPL Art. 31 fixes the age of consent at 14".into());
        }
        if let Some(b) = &n.birth_date_field {
            if schema.field(b.as_str()).map(|f| f.kind) != Some(crate::schema::FieldType::Date) {
                err(
                    "birth_date_field",
                    format!("birth_date_field {b} is not a date field of the schema"),
                );
            }
        }
        if n.version == 0 {
            err("version", "versions start at 1".into());
        }
        let mut seen = BTreeSet::new();
        for p in &n.purposes {
            let anchor = format!("\"{}\"", p.id);
            if schema.purpose(p.id.as_str()).is_none() {
                err(&anchor, format!("purpose {} is not in the schema's catalog", p.id));
            }
            if !seen.insert(p.id.clone()) {
                err(&anchor, format!("purpose {} is described twice", p.id));
            }
            if p.fields.is_empty() {
                err(&anchor, format!("purpose {} names no fields", p.id));
            }
            for f in &p.fields {
                if schema.field(f.as_str()).is_none() {
                    err(
                        &format!("\"{f}\""),
                        format!("field {f} (purpose {}) is not in the schema", p.id),
                    )
                }
            }
            if p.retention.approx_days() == 0 {
                err(&anchor, format!("purpose {} needs a retention period", p.id));
            }
            let named = p
                .recipients
                .iter()
                .flat_map(|r| r.fields.iter())
                .chain(p.transfers.iter().flat_map(|t| t.fields.iter()));
            for f in named {
                if !p.fields.contains(f) {
                    err(
                        &anchor,
                        format!(
                            "purpose {}: a recipient receives {f}, which the purpose does not use",
                            p.id
                        ),
                    );
                }
            }
            for t in &p.transfers {
                if t.country.len() != 2 || !t.country.bytes().all(|b| b.is_ascii_uppercase()) {
                    err(
                        &t.country,
                        format!("transfer country {:?} is not an ISO 3166 alpha-2 code", t.country),
                    );
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        }
        Ok(n)
    }

    /// What the law requires this notice to say or not to say, checked at
    /// publish: each purpose's basis under every regime of the notice
    /// ([`crate::law::BASES`]), and what the person must be told before a
    /// separate consent (PIPL Art. 23, 30, 39; GDPR Art. 9, 49; CCPA
    /// §1798.125). Empty when the notice may be published.
    pub fn legal_defects(&self, schema: &Schema) -> Vec<LegalDefect> {
        let mut out = Vec::new();
        let mut push = |anchor: String, citation: &'static str, message: String| {
            out.push(LegalDefect {
                anchor,
                citation,
                message: format!("{message} ({citation})"),
            })
        };
        let pipl = self.regimes.contains(&Regime::Pipl);
        let gdpr = self.regimes.contains(&Regime::Gdpr);
        let ccpa = self.regimes.contains(&Regime::Ccpa);
        for p in &self.purposes {
            let anchor = format!("\"{}\"", p.id);
            for r in &self.regimes {
                match crate::law::basis_rule(p.basis, *r) {
                    Some(b) if b.lawful => {}
                    Some(b) => push(
                        anchor.clone(),
                        b.citation,
                        format!(
                            "purpose {}: basis {} is not a legal basis under {}: {}",
                            p.id,
                            p.basis.as_str(),
                            r.as_str().to_uppercase(),
                            b.text_en
                        ),
                    ),
                    None => push(
                        anchor.clone(),
                        "custodia::law::BASES",
                        format!(
                            "purpose {}: basis {} has no rule under {}",
                            p.id,
                            p.basis.as_str(),
                            r.as_str()
                        ),
                    ),
                }
            }
            let sensitive = p.uses(schema, Classification::Sensitive);
            if pipl && sensitive && (p.necessity_en.trim().is_empty() || p.necessity_zh.trim().is_empty()) {
                let f = p
                    .fields
                    .iter()
                    .find(|f| {
                        schema
                            .field(f.as_str())
                            .is_some_and(|d| d.classification == Classification::Sensitive)
                    })
                    .map(|f| f.to_string())
                    .unwrap_or_default();
                push(
                    anchor.clone(),
                    "PIPL Art. 30",
                    format!(
                        "purpose {} uses sensitive field {f}: state its necessity in English and Chinese",
                        p.id
                    ),
                );
            }
            if pipl && sensitive && !p.impact.complete() {
                push(
                    anchor.clone(),
                    "PIPL Art. 30",
                    format!(
                        "purpose {} uses sensitive fields: state the impact on the person's rights in English and Chinese (impact = {{ en, zh }})",
                        p.id
                    ),
                );
            }
            if pipl {
                for r in p.recipients.iter().filter(|r| r.role == RecipientRole::Controller) {
                    let missing: Vec<&str> = [
                        ("contact", r.contact.trim().is_empty()),
                        ("purpose", !r.purpose.complete()),
                        ("method", !r.method.complete()),
                        ("fields", r.fields.is_empty()),
                    ]
                    .into_iter()
                    .filter(|(_, m)| *m)
                    .map(|(k, _)| k)
                    .collect();
                    if !missing.is_empty() {
                        push(
                            format!("\"{}\"", r.name),
                            "PIPL Art. 23",
                            format!(
                                "purpose {}: recipient {:?} is another handler; tell the person its {} before asking for separate consent",
                                p.id,
                                r.name,
                                missing.join(", ")
                            ),
                        );
                    }
                }
                for t in &p.transfers {
                    let missing: Vec<&str> = [
                        ("contact", t.contact.trim().is_empty()),
                        ("purpose", !t.purpose.complete()),
                        ("method", !t.method.complete()),
                        ("fields", t.fields.is_empty()),
                        ("rights", !t.rights.complete()),
                    ]
                    .into_iter()
                    .filter(|(_, m)| *m)
                    .map(|(k, _)| k)
                    .collect();
                    if !missing.is_empty() {
                        push(
                            format!("\"{}\"", t.recipient),
                            "PIPL Art. 39",
                            format!(
                                "purpose {}: transfer to {:?} ({}) must tell the overseas recipient's {}",
                                p.id,
                                t.recipient,
                                t.country,
                                missing.join(", ")
                            ),
                        );
                    }
                }
            }
            if gdpr {
                for t in &p.transfers {
                    match t.safeguard {
                        None => push(
                            format!("\"{}\"", t.recipient),
                            "GDPR Art. 44-49",
                            format!(
                                "purpose {}: transfer to {:?} ({}) must say what it rests on: safeguard = \"adequacy\" (Art. 45), \"appropriate_safeguards\" (Art. 46) or \"explicit_consent\" (Art. 49(1)(a))",
                                p.id, t.recipient, t.country
                            ),
                        ),
                        Some(TransferSafeguard::ExplicitConsent) if !t.risks.complete() => push(
                            format!("\"{}\"", t.recipient),
                            "GDPR Art. 49(1)(a)",
                            format!(
                                "purpose {}: a transfer to {:?} on explicit consent must tell the risks of the transfer in English and Chinese (risks = {{ en, zh }})",
                                p.id, t.recipient
                            ),
                        ),
                        Some(_) => {}
                    }
                }
                if p.uses_special_category(schema) && p.special_category_condition.is_none() {
                    push(
                        anchor.clone(),
                        "GDPR Art. 9(1)-(2)",
                        format!(
                            "purpose {} uses special-category fields: name its Art. 9(2) condition (special_category_condition), whatever its Art. 6 basis",
                            p.id
                        ),
                    );
                }
            }
            if let Some(terms) = &p.financial_incentive {
                if !ccpa {
                    push(
                        anchor.clone(),
                        "Cal. Civ. Code §1798.125(b)",
                        format!(
                            "purpose {}: financial_incentive is a CCPA notion; add \"ccpa\" to regimes or remove it",
                            p.id
                        ),
                    );
                } else if !terms.complete() {
                    push(
                        anchor.clone(),
                        "11 CCR §7016(b)",
                        format!(
                            "purpose {}: the notice of financial incentive must give its material terms in English and Chinese",
                            p.id
                        ),
                    );
                }
            }
            if let Some(law) = &p.written_consent {
                if law.trim().is_empty() {
                    push(
                        anchor.clone(),
                        "PIPL Art. 14 ¶2",
                        format!("purpose {}: written_consent must name the law that requires it", p.id),
                    );
                }
            }
            if p.limit_exempt && !ccpa {
                push(
                    anchor.clone(),
                    "11 CCR §7027(m)",
                    format!(
                        "purpose {}: limit_exempt is a CCPA notion; add \"ccpa\" to regimes or remove it",
                        p.id
                    ),
                );
            }
        }
        out
    }

    /// Whether consent of some kind could be asked for `p` under this
    /// notice (its basis is consent, or a rule applies whatever the basis
    /// for the youngest person): such purposes are offered for consent and
    /// gated on it.
    pub fn consent_may_apply(&self, p: &PurposeNotice) -> bool {
        p.basis.needs_consent()
            || consent::RULES.iter().any(|r| {
                r.any_basis
                    && self.regimes.contains(&r.regime)
                    && match r.trigger {
                        consent::Trigger::SoldOrSharedUnder(_) => {
                            p.recipients.iter().any(|x| x.role == RecipientRole::Controller)
                        }
                        consent::Trigger::SpecialCategoryByConsent => {
                            p.special_category_condition == Some(Art9Condition::ExplicitConsent)
                        }
                        consent::Trigger::TransferByConsent => p
                            .transfers
                            .iter()
                            .any(|t| t.safeguard == Some(TransferSafeguard::ExplicitConsent)),
                        consent::Trigger::FinancialIncentive => p.financial_incentive.is_some(),
                        consent::Trigger::WrittenRequired => p.written_consent.is_some(),
                        _ => false,
                    }
            })
    }

    /// A purpose's description.
    pub fn purpose(&self, id: &str) -> Option<&PurposeNotice> {
        self.purposes.iter().find(|p| p.id.as_str() == id)
    }

    /// The consent a purpose needs for a person of `age`, under the
    /// notice's own regimes and ages.
    pub fn requirement_for(&self, id: &str, schema: &Schema, age: Option<u32>) -> Option<Requirement> {
        self.requirement(id, schema, &self.regimes, self.ages, age)
    }

    /// Fields that some collecting purpose needs (the minimum-necessary
    /// rule); `with` adds consent-based purposes the customer agreed to.
    pub fn necessary_fields(&self, with: impl Fn(&Purpose) -> bool) -> BTreeSet<&FieldName> {
        self.purposes
            .iter()
            .filter(|p| p.collects && (!p.basis.needs_consent() || with(&p.id)))
            .flat_map(|p| p.fields.iter())
            .collect()
    }

    /// The exact text a person is shown when asked to consent to `id`, in
    /// `lang`; receipts carry its SHA-256. Line by line, stable for a given
    /// notice version.
    pub fn consent_text(&self, id: &str, schema: &Schema, lang: Language) -> Option<Vec<String>> {
        let p = self.purpose(id)?;
        let def = schema.purpose(id)?;
        let label = |f: &FieldName| {
            schema
                .field(f.as_str())
                .map(|d| lang.pick(&d.label_en, &d.label_zh).to_owned())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| f.to_string())
        };
        let mut lines = vec![
            format!(
                "{} ({} {}, {})",
                lang.pick(&self.title_en, &self.title_zh),
                lang.pick("version", "版本"),
                self.version,
                self.effective
            ),
            format!(
                "{}{}",
                lang.pick("Purpose: ", "处理目的："),
                lang.pick(&def.name_en, &def.name_zh)
            ),
            format!(
                "{}{}",
                lang.pick("Legal basis: ", "法律依据："),
                p.basis.describe(lang, &self.regimes)
            ),
            format!(
                "{}{}",
                lang.pick("Information used: ", "处理的个人信息："),
                p.fields
                    .iter()
                    .map(label)
                    .collect::<Vec<_>>()
                    .join(lang.pick(", ", "、"))
            ),
            format!("{}{}", lang.pick("Kept: ", "保存期限："), p.retention.describe(lang)),
        ];
        let labels = |fs: &[FieldName]| fs.iter().map(label).collect::<Vec<_>>().join(lang.pick(", ", "、"));
        let sep = lang.pick("; ", "；");
        // What a separate consent must tell (PIPL Art. 23, 39; GDPR Art.
        // 49(1)(a)), each part only when the notice gives it.
        let details = |contact: &str, purpose: &Bilingual, method: &Bilingual, fields: &[FieldName]| {
            let mut d = Vec::new();
            if !contact.trim().is_empty() {
                d.push(format!("{}{}", lang.pick("contact: ", "联系方式："), contact.trim()));
            }
            if purpose.complete() {
                d.push(format!("{}{}", lang.pick("purpose: ", "处理目的："), purpose.get(lang)));
            }
            if method.complete() {
                d.push(format!("{}{}", lang.pick("method: ", "处理方式："), method.get(lang)));
            }
            if !fields.is_empty() {
                d.push(format!(
                    "{}{}",
                    lang.pick("information: ", "个人信息种类："),
                    labels(fields)
                ));
            }
            d
        };
        if !p.recipients.is_empty() {
            lines.push(format!(
                "{}{}",
                lang.pick("Shared with: ", "提供给："),
                p.recipients
                    .iter()
                    .map(|r| match r.role {
                        RecipientRole::Processor =>
                            format!("{} ({})", r.name, lang.pick("processes on our behalf", "受托处理")),
                        RecipientRole::Controller => {
                            let mut d = vec![lang
                                .pick("uses it for its own purposes", "独立的个人信息处理者")
                                .to_owned()];
                            d.extend(details(&r.contact, &r.purpose, &r.method, &r.fields));
                            format!("{} ({})", r.name, d.join(sep))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(sep)
            ));
        }
        for t in &p.transfers {
            let mut d = vec![t.mechanism.clone()];
            d.extend(details(&t.contact, &t.purpose, &t.method, &t.fields));
            if t.rights.complete() {
                d.push(format!(
                    "{}{}",
                    lang.pick("your rights against the recipient: ", "向境外接收方行使权利的方式："),
                    t.rights.get(lang)
                ));
            }
            match t.safeguard {
                Some(TransferSafeguard::Adequacy) => d.push(
                    lang.pick(
                        "an adequacy decision covers the destination (GDPR Art. 45)",
                        "目的地获得充分性认定（GDPR 第45条）",
                    )
                    .into(),
                ),
                Some(TransferSafeguard::AppropriateSafeguards) => d.push(
                    lang.pick(
                        "protected by appropriate safeguards (GDPR Art. 46)",
                        "采取适当保障措施（GDPR 第46条）",
                    )
                    .into(),
                ),
                Some(TransferSafeguard::ExplicitConsent) => d.push(format!(
                    "{}{}",
                    lang.pick(
                        "no adequacy decision or safeguards protect it; the risks: ",
                        "该传输没有充分性认定或适当保障措施，风险在于："
                    ),
                    t.risks.get(lang)
                )),
                None => {}
            }
            lines.push(format!(
                "{}{} — {} ({})",
                lang.pick("Sent abroad to: ", "向境外提供："),
                t.country,
                t.recipient,
                d.join(sep)
            ));
        }
        if p.public_disclosure {
            lines.push(lang.pick("This information is made public.", "该信息将被公开。").into());
        }
        let necessity = lang.pick(&p.necessity_en, &p.necessity_zh);
        if !necessity.trim().is_empty() {
            lines.push(format!(
                "{}{}",
                lang.pick("Why sensitive information is necessary: ", "处理敏感个人信息的必要性："),
                necessity.trim()
            ));
        }
        if p.impact.complete() {
            lines.push(format!(
                "{}{}",
                lang.pick("Impact on your rights: ", "对您个人权益的影响："),
                p.impact.get(lang)
            ));
        }
        if let Some(terms) = p.financial_incentive.as_ref().filter(|t| t.complete()) {
            lines.push(format!(
                "{}{}",
                lang.pick(
                    "Financial incentive (you may opt in, and withdraw at any time): ",
                    "经济激励（您可选择加入，并可随时撤回）："
                ),
                terms.get(lang)
            ));
        }
        if let Some(law) = &p.written_consent {
            lines.push(format!(
                "{}{}",
                lang.pick(
                    "This consent must be given in writing, as required by ",
                    "根据以下规定，此项同意须以书面形式作出："
                ),
                law.trim()
            ));
        }
        lines.push(
            lang.pick(
                "You may withdraw this consent at any time, as easily as you gave it; withdrawal does not affect processing before it.",
                "您可以随时撤回此项同意，撤回与给予同样便捷；撤回不影响撤回前基于同意已进行的处理活动。",
            )
            .into(),
        );
        Some(lines)
    }

    /// The consent a purpose needs for a person of `age`.
    pub fn requirement(
        &self,
        id: &str,
        schema: &Schema,
        regimes: &[Regime],
        ages: consent::Ages,
        age: Option<u32>,
    ) -> Option<Requirement> {
        let p = self.purpose(id)?;
        let proc_ = Processing {
            consent_basis: p.basis.needs_consent(),
            classes: p
                .fields
                .iter()
                .filter_map(|f| schema.field(f.as_str()))
                .map(|d| d.classification)
                .collect(),
            special_category_by_consent: p.uses_special_category(schema)
                && p.special_category_condition == Some(Art9Condition::ExplicitConsent),
            shared_with_controller: p.recipients.iter().any(|r| r.role == RecipientRole::Controller),
            public_disclosure: p.public_disclosure,
            cross_border: !p.transfers.is_empty(),
            transfer_by_consent: p
                .transfers
                .iter()
                .any(|t| t.safeguard == Some(TransferSafeguard::ExplicitConsent)),
            financial_incentive: p.financial_incentive.is_some(),
            written_required: p.written_consent.is_some(),
            age,
        };
        Some(consent::required(&proc_, regimes, ages))
    }
}

/// Something a notice must say (or must not) under its regimes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegalDefect {
    /// Text near which it is found in the TOML (for the line number).
    #[serde(skip)]
    pub anchor: String,
    /// The article.
    pub citation: &'static str,
    /// What is wrong and what to write, ending with the citation.
    pub message: String,
}

/// One difference between two notice versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A new purpose.
    PurposeAdded { purpose: Purpose },
    /// A purpose is gone.
    PurposeRemoved { purpose: Purpose },
    /// The legal basis changed.
    BasisChanged { purpose: Purpose },
    /// A purpose uses a new field.
    FieldAdded { purpose: Purpose, field: FieldName },
    /// A purpose no longer uses a field.
    FieldRemoved { purpose: Purpose, field: FieldName },
    /// A new recipient.
    RecipientAdded { purpose: Purpose, recipient: String },
    /// A recipient is gone.
    RecipientRemoved { purpose: Purpose, recipient: String },
    /// A new cross-border transfer.
    TransferAdded { purpose: Purpose, country: String },
    /// A transfer is gone.
    TransferRemoved { purpose: Purpose, country: String },
    /// Data is kept longer (or from a later event).
    RetentionLonger { purpose: Purpose },
    /// Data is kept shorter.
    RetentionShorter { purpose: Purpose },
    /// Data is now made public.
    PublicDisclosureAdded { purpose: Purpose },
    /// Only the wording changed.
    TextChanged,
}

impl Change {
    /// Whether this change needs consent again (PIPL Art. 14 ¶2; under the GDPR consent must be specific and informed, Art. 4(11), 7: a new purpose needs its own).
    pub fn material(&self) -> bool {
        !matches!(
            self,
            Change::PurposeRemoved { .. }
                | Change::FieldRemoved { .. }
                | Change::RecipientRemoved { .. }
                | Change::TransferRemoved { .. }
                | Change::RetentionShorter { .. }
                | Change::TextChanged
        )
    }

    /// The purpose concerned, if one.
    pub fn purpose(&self) -> Option<&Purpose> {
        match self {
            Change::PurposeAdded { purpose }
            | Change::PurposeRemoved { purpose }
            | Change::BasisChanged { purpose }
            | Change::FieldAdded { purpose, .. }
            | Change::FieldRemoved { purpose, .. }
            | Change::RecipientAdded { purpose, .. }
            | Change::RecipientRemoved { purpose, .. }
            | Change::TransferAdded { purpose, .. }
            | Change::TransferRemoved { purpose, .. }
            | Change::RetentionLonger { purpose }
            | Change::RetentionShorter { purpose }
            | Change::PublicDisclosureAdded { purpose } => Some(purpose),
            Change::TextChanged => None,
        }
    }
}

/// What changed from `old` to `new`.
pub fn diff(old: &Notice, new: &Notice) -> Vec<Change> {
    let mut out = Vec::new();
    if old.title_en != new.title_en
        || old.title_zh != new.title_zh
        || old.body_en != new.body_en
        || old.body_zh != new.body_zh
    {
        out.push(Change::TextChanged);
    }
    for o in &old.purposes {
        if new.purpose(o.id.as_str()).is_none() {
            out.push(Change::PurposeRemoved { purpose: o.id.clone() });
        }
    }
    for n in &new.purposes {
        let purpose = n.id.clone();
        let Some(o) = old.purpose(n.id.as_str()) else {
            out.push(Change::PurposeAdded { purpose });
            continue;
        };
        if o.basis != n.basis {
            out.push(Change::BasisChanged {
                purpose: purpose.clone(),
            });
        }
        for f in n.fields.iter().filter(|f| !o.fields.contains(f)) {
            out.push(Change::FieldAdded {
                purpose: purpose.clone(),
                field: f.clone(),
            });
        }
        for f in o.fields.iter().filter(|f| !n.fields.contains(f)) {
            out.push(Change::FieldRemoved {
                purpose: purpose.clone(),
                field: f.clone(),
            });
        }
        for r in n.recipients.iter().filter(|r| !o.recipients.contains(r)) {
            out.push(Change::RecipientAdded {
                purpose: purpose.clone(),
                recipient: r.name.clone(),
            });
        }
        for r in o.recipients.iter().filter(|r| !n.recipients.contains(r)) {
            out.push(Change::RecipientRemoved {
                purpose: purpose.clone(),
                recipient: r.name.clone(),
            });
        }
        for t in n.transfers.iter().filter(|t| !o.transfers.contains(t)) {
            out.push(Change::TransferAdded {
                purpose: purpose.clone(),
                country: t.country.clone(),
            });
        }
        for t in o.transfers.iter().filter(|t| !n.transfers.contains(t)) {
            out.push(Change::TransferRemoved {
                purpose: purpose.clone(),
                country: t.country.clone(),
            });
        }
        let longer = n.retention.compare(&o.retention);
        if longer == std::cmp::Ordering::Greater || n.retention.from != o.retention.from {
            out.push(Change::RetentionLonger {
                purpose: purpose.clone(),
            });
        } else if longer == std::cmp::Ordering::Less {
            out.push(Change::RetentionShorter {
                purpose: purpose.clone(),
            });
        }
        if n.public_disclosure && !o.public_disclosure {
            out.push(Change::PublicDisclosureAdded { purpose });
        }
    }
    out
}

/// Purposes whose consents must be renewed after `changes`.
pub fn renewal_needed(changes: &[Change], new: &Notice) -> BTreeSet<Purpose> {
    changes
        .iter()
        .filter(|c| c.material())
        .filter_map(|c| c.purpose().cloned())
        .filter(|p| new.purpose(p.as_str()).is_some_and(|x| new.consent_may_apply(x)))
        .collect()
}

/// For each purpose of the newest notice in `history` (oldest first), the
/// version that last changed it materially (or introduced it): a consent
/// given under an older version must be renewed.
pub fn renewal_floors(history: &[Notice]) -> std::collections::BTreeMap<Purpose, u32> {
    let mut floors = std::collections::BTreeMap::new();
    let mut prev: Option<&Notice> = None;
    for n in history {
        match prev {
            None => {
                for p in &n.purposes {
                    floors.insert(p.id.clone(), n.version);
                }
            }
            Some(o) => {
                floors.retain(|p: &Purpose, _| n.purpose(p.as_str()).is_some());
                for p in &n.purposes {
                    floors.entry(p.id.clone()).or_insert(n.version);
                }
                for p in diff(o, n).iter().filter(|c| c.material()).filter_map(|c| c.purpose()) {
                    floors.insert(p.clone(), n.version);
                }
            }
        }
        prev = Some(n);
    }
    floors
}

/// The consent kinds a purpose needs, as names (for receipts and pages).
pub fn kind_names(r: &Requirement) -> Vec<&'static str> {
    r.kinds.iter().map(|k: &ConsentKind| k.as_str()).collect()
}

#[cfg(test)]
mod tests;
