//! How a record's encrypted fields are laid out in the store, and what a
//! caller gets back.

use custodia_core::{CustomerId, FieldName, Purpose};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fields of a record to create: name → raw value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecordInput {
    /// The company's own key for the record; makes imports idempotent.
    pub external_id: Option<String>,
    /// Field values as typed by a person or sent by an application.
    pub fields: BTreeMap<String, String>,
    /// Consents the customer gave with this record (each becomes a receipt).
    #[serde(default)]
    pub consents: Vec<crate::privacy::consent::ConsentInput>,
    /// Why a person on the suppression list of erased people is collected
    /// again (e.g. "signed up again on 2026-12-01"); needs `readmit_erased`.
    #[serde(default)]
    pub new_collection_basis: Option<String>,
}

/// Changes to a record: a value sets the field, `None` removes it.
pub type RecordPatch = BTreeMap<String, Option<String>>;

/// A customer as returned to a caller: masked unless revealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerView {
    /// The customer id.
    pub id: CustomerId,
    /// The company's own key, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Record version (for optimistic updates).
    pub version: i64,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Last update time (RFC 3339, UTC).
    pub updated_at: String,
    /// Field values: masked, or clear for the revealed fields.
    pub fields: BTreeMap<String, String>,
    /// Fields shown in clear.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revealed: Vec<FieldName>,
    /// The purpose declared for the reveal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// What the writer should look at (e.g. a mobile number that an erased
    /// person had); never personal data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Milliseconds since the epoch as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
