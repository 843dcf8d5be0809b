//! Field codes, shared by both stores: every schema field gets a small
//! integer code (audit rows list fields as one byte each), and searchable
//! fields get a `bi_<code>` column holding their blind-index value.

use crate::StoreError;
use custodia_core::FieldName;
use std::collections::HashMap;

/// The registered fields of one database.
#[derive(Debug, Default)]
pub(crate) struct FieldCodes {
    /// Searchable field name → code.
    pub(crate) by_name: HashMap<String, i64>,
    /// Searchable fields in column order.
    pub(crate) list: Vec<(i64, FieldName)>,
    all_by_name: HashMap<FieldName, u8>,
    all_by_code: HashMap<u8, FieldName>,
}

impl FieldCodes {
    /// From the searchable fields and every field, each with its code.
    pub(crate) fn new(list: Vec<(i64, FieldName)>, all: Vec<(i64, FieldName)>) -> FieldCodes {
        let all: Vec<(u8, FieldName)> = all
            .into_iter()
            .filter_map(|(c, n)| u8::try_from(c).ok().map(|c| (c, n)))
            .collect();
        FieldCodes {
            by_name: list.iter().map(|(c, n)| (n.to_string(), *c)).collect(),
            list,
            all_by_name: all.iter().map(|(c, n)| (n.clone(), *c)).collect(),
            all_by_code: all.into_iter().collect(),
        }
    }

    /// The `bi_<code>` column names in order.
    pub(crate) fn columns(&self) -> Vec<String> {
        self.list.iter().map(|(c, _)| format!("bi_{c}")).collect()
    }

    /// The customer statements over these columns. Parameters (`$N`, see
    /// [`crate::sql`]) are content first, then the blind values, then the
    /// row's id and expected version.
    pub(crate) fn statements(&self, base_columns: &str) -> Statements {
        let bi = self.columns();
        let cols: String = bi.iter().map(|b| format!(", {b}")).collect();
        let set = |first: usize| -> String {
            bi.iter()
                .enumerate()
                .map(|(i, b)| format!(", {b} = ${}", first + i))
                .collect()
        };
        let n = bi.len();
        Statements {
            select: format!("{base_columns}{cols}"),
            insert: format!(
                "INSERT INTO customers (id, external_id, version, kek_version, dk_version, wrapped_dk, sealed, attrs, \
                 created_ms, updated_ms{cols}) VALUES ({}) ON CONFLICT (external_id) DO NOTHING",
                (1..=10 + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            ),
            update: format!(
                "UPDATE customers SET version = version + 1, dk_version = $1, sealed = $2, attrs = $3, \
                 updated_ms = $4{} WHERE id = ${} AND version = ${}",
                set(5),
                5 + n,
                6 + n
            ),
            rekey: format!(
                "UPDATE customers SET version = version + 1, dk_version = $1, sealed = $2, attrs = $3, \
                 updated_ms = $4, kek_version = $5, wrapped_dk = $6{} WHERE id = ${} AND version = ${}",
                set(7),
                7 + n,
                8 + n
            ),
        }
    }

    /// The blind values of `entries` in column order (None where absent).
    pub(crate) fn values(&self, entries: &[(FieldName, i64)]) -> Result<Vec<Option<i64>>, StoreError> {
        if let Some((f, _)) = entries.iter().find(|(f, _)| !self.by_name.contains_key(f.as_str())) {
            return Err(StoreError::Database(format!(
                "field {f} is not registered as searchable"
            )));
        }
        Ok(self
            .list
            .iter()
            .map(|(_, name)| entries.iter().find(|(f, _)| f == name).map(|(_, h)| *h))
            .collect())
    }

    /// A field list as one byte per field when every field has a code,
    /// else (`Err`) as names joined by ','.
    pub(crate) fn encode(&self, fields: &[FieldName]) -> Result<Vec<u8>, String> {
        fields
            .iter()
            .map(|f| self.all_by_name.get(f).copied())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","))
    }

    /// The names of a coded field list.
    pub(crate) fn decode_coded(&self, b: &[u8]) -> Result<Vec<FieldName>, StoreError> {
        b.iter()
            .map(|c| self.all_by_code.get(c).cloned().ok_or_else(bad_fields))
            .collect()
    }

    /// The names of a field list stored as text.
    pub(crate) fn decode_names(t: &str) -> Result<Vec<FieldName>, StoreError> {
        if t.is_empty() {
            return Ok(Vec::new());
        }
        t.split(',')
            .map(|n| FieldName::new(n).map_err(|_| bad_fields()))
            .collect()
    }
}

/// The customers table's columns before the blind-index ones (same in both stores).
pub(crate) const BASE_COLUMNS: &str =
    "seq, id, external_id, version, kek_version, dk_version, wrapped_dk, sealed, attrs, created_ms, updated_ms, flags";

/// A database's field codes with the customer statements built on them.
#[derive(Debug, Default)]
pub(crate) struct Codes {
    fields: FieldCodes,
    /// The statements over the customers table.
    pub(crate) sql: Statements,
}

impl std::ops::Deref for Codes {
    type Target = FieldCodes;
    fn deref(&self) -> &FieldCodes {
        &self.fields
    }
}

impl Codes {
    /// From the searchable fields and every field.
    pub(crate) fn build(list: Vec<(i64, FieldName)>, all: Vec<(i64, FieldName)>) -> Codes {
        let fields = FieldCodes::new(list, all);
        let sql = fields.statements(BASE_COLUMNS);
        Codes { fields, sql }
    }
}

/// Statements over the customers table and its blind-index columns.
#[derive(Debug, Default)]
pub(crate) struct Statements {
    /// Columns to select (base columns, then blind values).
    pub(crate) select: String,
    /// Insert, skipped when the external id exists.
    pub(crate) insert: String,
    /// Optimistic update of content and blind values.
    pub(crate) update: String,
    /// Optimistic update that also replaces the wrapped data key.
    pub(crate) rekey: String,
}

fn bad_fields() -> StoreError {
    StoreError::Corrupt("audit event: bad field list".into())
}

/// A comma-separated list as stored.
pub(crate) fn split_list(s: String) -> Vec<String> {
    s.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect()
}
