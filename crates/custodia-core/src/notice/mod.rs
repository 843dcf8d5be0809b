//! Versioned privacy notices: what is collected for which purpose, on which
//! legal basis, kept how long, shared with whom, sent where — and what
//! changed between two versions, so that a material change can require
//! consent again (PIPL Art. 14: a change of purpose, method or data type
//! needs new consent).

use crate::consent::{self, Ages, ConsentKind, Processing, Regime, Requirement};
use crate::ids::{FieldName, Purpose};
use crate::policy::PolicyError;
use crate::schema::{Classification, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The notice shipped with Custodia (fits the default schema); published as
/// version 1 when a data directory is created.
pub const DEFAULT_NOTICE_TOML: &str = include_str!("../../data/default-notice.toml");

/// The legal basis of a purpose (PIPL Art. 13; GDPR Art. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Public-health emergencies or protecting life (PIPL 13(4); GDPR 6(1)(d)).
    VitalInterests,
    /// News reporting and supervision in the public interest (PIPL 13(5); GDPR 6(1)(e)).
    PublicInterest,
    /// Information the person made public (PIPL 13(6)).
    PublicData,
    /// Legitimate interests (GDPR 6(1)(f); no PIPL equivalent).
    LegitimateInterests,
}

impl LegalBasis {
    /// Whether processing on this basis needs consent.
    pub fn needs_consent(self) -> bool {
        self == LegalBasis::Consent
    }
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
    /// Approximate length in days, for comparisons.
    pub fn approx_days(&self) -> u64 {
        self.days as u64 + self.months as u64 * 31 + self.years as u64 * 366
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
}

impl LegalBasis {
    /// What people read.
    pub fn describe(self, lang: Language) -> &'static str {
        let (en, zh) = match self {
            LegalBasis::Consent => (
                "your consent (PIPL Art. 13(1); GDPR Art. 6(1)(a))",
                "您的同意（《个人信息保护法》第十三条第一项）",
            ),
            LegalBasis::Contract => (
                "performing a contract with you (PIPL Art. 13(2); GDPR Art. 6(1)(b))",
                "订立、履行与您的合同所必需（第十三条第二项）",
            ),
            LegalBasis::HrManagement => (
                "human-resources management (PIPL Art. 13(2))",
                "实施人力资源管理所必需（第十三条第二项）",
            ),
            LegalBasis::LegalObligation => (
                "a legal duty (PIPL Art. 13(3); GDPR Art. 6(1)(c))",
                "履行法定职责或法定义务所必需（第十三条第三项）",
            ),
            LegalBasis::VitalInterests => (
                "protecting life, health or property in an emergency (PIPL Art. 13(4); GDPR Art. 6(1)(d))",
                "紧急情况下保护生命健康和财产安全所必需（第十三条第四项）",
            ),
            LegalBasis::PublicInterest => (
                "news reporting and supervision in the public interest (PIPL Art. 13(5); GDPR Art. 6(1)(e))",
                "为公共利益实施新闻报道、舆论监督（第十三条第五项）",
            ),
            LegalBasis::PublicData => (
                "information you made public (PIPL Art. 13(6))",
                "您自行公开的个人信息（第十三条第六项）",
            ),
            LegalBasis::LegitimateInterests => (
                "our legitimate interests (GDPR Art. 6(1)(f))",
                "我们的正当利益（GDPR 第六条第一款f项）",
            ),
        };
        lang.pick(en, zh)
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

    /// Parse and check a notice against the schema.
    pub fn from_toml(text: &str, schema: &Schema) -> Result<Notice, Vec<PolicyError>> {
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
                match schema.field(f.as_str()) {
                    None => err(&format!("\"{f}\""), format!("field {f} (purpose {}) is not in the schema", p.id)),
                    Some(def) if def.classification == Classification::Sensitive && (p.necessity_en.trim().is_empty() || p.necessity_zh.trim().is_empty()) => {
                        err(&anchor, format!("purpose {} uses sensitive field {f}: state its necessity in English and Chinese (PIPL Art. 30)", p.id))
                    }
                    _ => {}
                }
            }
            if p.retention.approx_days() == 0 {
                err(&anchor, format!("purpose {} needs a retention period", p.id));
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
            format!("{}{}", lang.pick("Legal basis: ", "法律依据："), p.basis.describe(lang)),
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
        if !p.recipients.is_empty() {
            lines.push(format!(
                "{}{}",
                lang.pick("Shared with: ", "提供给："),
                p.recipients
                    .iter()
                    .map(|r| match r.role {
                        RecipientRole::Processor =>
                            format!("{} ({})", r.name, lang.pick("processes on our behalf", "受托处理")),
                        RecipientRole::Controller => format!(
                            "{} ({})",
                            r.name,
                            lang.pick("uses it for its own purposes", "独立的个人信息处理者")
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join(lang.pick("; ", "；"))
            ));
        }
        for t in &p.transfers {
            lines.push(format!(
                "{}{} — {} ({})",
                lang.pick("Sent abroad to: ", "向境外提供："),
                t.country,
                t.recipient,
                t.mechanism
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
            shared_with_controller: p.recipients.iter().any(|r| r.role == RecipientRole::Controller),
            public_disclosure: p.public_disclosure,
            cross_border: !p.transfers.is_empty(),
            age,
        };
        Some(consent::required(&proc_, regimes, ages))
    }
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
    /// Whether this change needs consent again (PIPL Art. 14 ¶2; GDPR Art. 7 and 13(3)).
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
        if n.retention.approx_days() > o.retention.approx_days() || n.retention.from != o.retention.from {
            out.push(Change::RetentionLonger {
                purpose: purpose.clone(),
            });
        } else if n.retention.approx_days() < o.retention.approx_days() {
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
        .filter(|p| new.purpose(p.as_str()).is_some_and(|x| x.basis.needs_consent()))
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
