//! How a record's encrypted fields are laid out in the store, and what a
//! caller gets back.

use crate::error::VaultError;
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
}

/// Encode `(field, ciphertext)` pairs: `count:u8 ‖ (len:u8 ‖ name ‖ len:u16 ‖ ct)*`.
pub fn encode_sealed(items: &[(FieldName, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + items.iter().map(|(n, c)| 3 + n.as_str().len() + c.len()).sum::<usize>());
    out.push(items.len() as u8);
    for (name, ct) in items {
        out.push(name.as_str().len() as u8);
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&(ct.len() as u16).to_be_bytes());
        out.extend_from_slice(ct);
    }
    out
}

/// Decode what [`encode_sealed`] wrote.
pub fn decode_sealed(b: &[u8]) -> Result<Vec<(FieldName, Vec<u8>)>, VaultError> {
    let bad = || VaultError::Store(custodia_store::StoreError::Corrupt("sealed field list".into()));
    let (&count, mut rest) = b.split_first().ok_or_else(bad)?;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (&nlen, r) = rest.split_first().ok_or_else(bad)?;
        let name = r.get(..nlen as usize).ok_or_else(bad)?;
        let r = &r[nlen as usize..];
        let len = r.get(..2).ok_or_else(bad)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let ct = r.get(2..2 + len).ok_or_else(bad)?;
        let name = std::str::from_utf8(name).map_err(|_| bad())?;
        out.push((FieldName::new(name).map_err(|_| bad())?, ct.to_vec()));
        rest = &r[2 + len..];
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Milliseconds since the epoch as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sealed_round_trip(items in proptest::collection::vec(("[a-z][a-z0-9_]{0,20}", proptest::collection::vec(any::<u8>(), 0..300)), 0..12)) {
            let items: Vec<(FieldName, Vec<u8>)> = items.into_iter().map(|(n, c)| (FieldName::new(&n).unwrap(), c)).collect();
            let enc = encode_sealed(&items);
            prop_assert_eq!(decode_sealed(&enc).unwrap(), items);
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_sealed(&b);
        }
    }
}
