//! Versioned privacy notices: what is collected for which purpose, on which
//! legal basis, kept how long, shared with whom, sent where — and what
//! changed between two versions, so that a material change can require
//! consent again (PIPL Art. 14: a change of purpose, method or data type
//! needs new consent).

use crate::consent::{self, ConsentKind, Processing, Regime, Requirement};
use crate::ids::{FieldName, Purpose};
use crate::policy::PolicyError;
use crate::schema::{Classification, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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

/// The consent kinds a purpose needs, as names (for receipts and pages).
pub fn kind_names(r: &Requirement) -> Vec<&'static str> {
    r.kinds.iter().map(|k: &ConsentKind| k.as_str()).collect()
}

#[cfg(test)]
mod tests;
