//! The customer schema: which fields a record may hold, how each is typed,
//! classified, indexed and masked, and the catalog of processing purposes.
//!
//! The schema is data (a TOML file, see `data/default-schema.toml`); it is
//! validated as a whole when loaded, so a schema that would store sensitive
//! data in clear never gets as far as the vault.

use crate::ids::{FieldName, Purpose};
use crate::mask::Mask;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema shipped with Custodia, used when `init` is not given one.
pub const DEFAULT_SCHEMA_TOML: &str = include_str!("../data/default-schema.toml");

/// Most fields a schema may declare.
pub const MAX_FIELDS: usize = 64;

/// The value type of a field; each has its own validator and normalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A person's name in any script.
    PersonName,
    /// Chinese resident identity number (GB 11643-1999).
    CnNationalId,
    /// An identity document of any kind the record says (`id_kind`,
    /// `country`; see [`crate::iddoc`]), a resident ID by default.
    IdDocument,
    /// A country, ISO 3166-1 alpha-2 (`CN`, `US`): the region of phone
    /// numbers written without `+`, and what identity documents are read as.
    Country,
    /// A telephone number (libphonenumber rules), stored as E.164.
    Phone,
    /// An e-mail address.
    Email,
    /// A payment card number (Luhn, 12-19 digits).
    BankCard,
    /// A postal address.
    Address,
    /// A calendar date, stored as YYYY-MM-DD.
    Date,
    /// Free text of bounded length, optionally from a closed list.
    Text,
}

/// How much protection a field's values need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Not personal data (segment, department, locale); stored in clear.
    Internal,
    /// Personal information (PIPL Art. 4); encrypted at rest.
    Personal,
    /// Sensitive personal information (PIPL Art. 28); encrypted at rest and
    /// subject to separate consent.
    Sensitive,
}

impl Classification {
    /// Whether values of this class are encrypted at rest.
    pub fn is_encrypted(self) -> bool {
        self != Classification::Internal
    }
}

/// One field of the customer schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The field's name in the API, CLI and CSV headers.
    pub name: FieldName,
    /// The value type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Internal, personal or sensitive.
    pub classification: Classification,
    /// Whether exact-match search is offered.
    #[serde(default)]
    pub searchable: bool,
    /// Whether a record must have this field.
    #[serde(default)]
    pub required: bool,
    /// The display mask used when a value is not revealed.
    pub mask: Mask,
    /// For text fields: the closed list of accepted values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// For text fields: maximum length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// For free text: what to do with personal information found in it on
    /// write (`redact`, `tokenize`, `refuse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanAction>,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// Chinese label.
    #[serde(default)]
    pub label_zh: String,
    /// The GDPR special category the field holds (Art. 9(1)), if any; such
    /// a field must be classified sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_category: Option<SpecialCategory>,
}

/// A GDPR special category of personal data (Art. 9(1)). PIPL's sensitive
/// information (Art. 28) is wider: bank cards and ID numbers are sensitive
/// there but not special categories here (national identifiers are Art. 87).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialCategory {
    /// Racial or ethnic origin.
    RacialOrEthnicOrigin,
    /// Political opinions.
    PoliticalOpinions,
    /// Religious or philosophical beliefs.
    ReligiousOrPhilosophicalBeliefs,
    /// Trade-union membership.
    TradeUnionMembership,
    /// Genetic data.
    Genetic,
    /// Biometric data for uniquely identifying a person.
    Biometric,
    /// Data concerning health.
    Health,
    /// Sex life or sexual orientation.
    SexLifeOrOrientation,
}

/// What to do with personal information found in a free-text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanAction {
    /// Replace each finding with its type label (`<CN_MOBILE>`).
    Redact,
    /// Replace each finding with a vault token; the value is kept sealed
    /// and shown only to those allowed to detokenize.
    Tokenize,
    /// Refuse the write, naming the types found.
    Refuse,
}

/// An entry of the purpose catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeDef {
    /// The purpose identifier declared by callers.
    pub id: Purpose,
    /// English name.
    pub name_en: String,
    /// Chinese name.
    pub name_zh: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    version: u32,
    #[serde(default = "default_region")]
    default_region: String,
    fields: Vec<FieldDef>,
    #[serde(default)]
    purposes: Vec<PurposeDef>,
}

fn default_region() -> String {
    "CN".into()
}

/// Why a schema was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The TOML does not parse or has unknown keys.
    #[error("schema is not valid TOML: {0}")]
    Toml(String),
    /// Two fields share a name.
    #[error("field {0:?} is declared twice")]
    DuplicateField(String),
    /// Two purposes share an id.
    #[error("purpose {0:?} is declared twice")]
    DuplicatePurpose(String),
    /// The name `external_id` is reserved for the record's external key.
    #[error("field name {0:?} is reserved")]
    ReservedName(String),
    /// A type that always carries personal data is classified internal, or
    /// a type that is sensitive by law is classified lower.
    #[error("field {field:?} of type {kind:?} must be classified at least {min:?}")]
    ClassificationTooLow {
        /// The field.
        field: String,
        /// Its type.
        kind: FieldType,
        /// The lowest acceptable classification.
        min: Classification,
    },
    /// A GDPR special category classified below sensitive.
    #[error("field {0:?} holds a GDPR special category (Art. 9(1)): classify it sensitive")]
    SpecialCategoryNotSensitive(String),
    /// The mask does not fit the field (e.g. `none` on personal data).
    #[error("field {field:?}: {reason}")]
    BadMask {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// `allowed`/`max_len` on a non-text field, or an empty list.
    #[error("field {field:?}: {reason}")]
    BadOption {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// No fields, or too many.
    #[error("a schema declares between 1 and {MAX_FIELDS} fields")]
    FieldCount,
    /// The default region is not a two-letter region code.
    #[error("default_region {0:?} is not a two-letter region code")]
    Region(String),
    /// Only version 1 exists.
    #[error("unsupported schema version {0}")]
    Version(u32),
}

/// A validated customer schema.
#[derive(Debug, Clone)]
pub struct Schema {
    fields: Vec<FieldDef>,
    by_name: BTreeMap<String, usize>,
    purposes: Vec<PurposeDef>,
    default_region: String,
    source: String,
}

impl Schema {
    /// The default schema.
    pub fn default_schema() -> Schema {
        Schema::from_toml(DEFAULT_SCHEMA_TOML).expect("the bundled schema is valid")
    }

    /// Parse and validate a schema from TOML text.
    pub fn from_toml(text: &str) -> Result<Schema, SchemaError> {
        let raw: RawSchema = toml::from_str(text).map_err(|e| SchemaError::Toml(e.to_string()))?;
        if raw.version != 1 {
            return Err(SchemaError::Version(raw.version));
        }
        if raw.fields.is_empty() || raw.fields.len() > MAX_FIELDS {
            return Err(SchemaError::FieldCount);
        }
        let region = raw.default_region.to_ascii_uppercase();
        if region.len() != 2 || !region.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(SchemaError::Region(raw.default_region));
        }
        let mut by_name = BTreeMap::new();
        for (i, f) in raw.fields.iter().enumerate() {
            let name = f.name.as_str();
            if matches!(name, "external_id" | "id" | "consents") {
                return Err(SchemaError::ReservedName(name.into()));
            }
            if by_name.insert(name.to_owned(), i).is_some() {
                return Err(SchemaError::DuplicateField(name.into()));
            }
            check_field(f)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &raw.purposes {
            if !seen.insert(p.id.as_str().to_owned()) {
                return Err(SchemaError::DuplicatePurpose(p.id.to_string()));
            }
        }
        Ok(Schema {
            fields: raw.fields,
            by_name,
            purposes: raw.purposes,
            default_region: region,
            source: text.to_owned(),
        })
    }

    /// All fields in declaration order.
    pub fn fields(&self) -> &[FieldDef] {
        &self.fields
    }

    /// Look a field up by name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.by_name.get(name).map(|&i| &self.fields[i])
    }

    /// Position of a field in [`Schema::fields`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The purpose catalog.
    pub fn purposes(&self) -> &[PurposeDef] {
        &self.purposes
    }

    /// Accept a declared purpose only if the catalog lists it.
    pub fn purpose(&self, id: &str) -> Option<&PurposeDef> {
        self.purposes.iter().find(|p| p.id.as_str() == id)
    }

    /// The region for phone numbers written without a country code.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// The TOML this schema was read from (kept with the data).
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn check_field(f: &FieldDef) -> Result<(), SchemaError> {
    let name = f.name.to_string();
    let min = match f.kind {
        FieldType::CnNationalId | FieldType::IdDocument | FieldType::BankCard => Classification::Sensitive,
        FieldType::Text | FieldType::Country => Classification::Internal,
        _ => Classification::Personal,
    };
    if f.special_category.is_some() && f.classification != Classification::Sensitive {
        return Err(SchemaError::SpecialCategoryNotSensitive(name));
    }
    if f.classification < min {
        return Err(SchemaError::ClassificationTooLow {
            field: name,
            kind: f.kind,
            min,
        });
    }
    if f.classification.is_encrypted() && f.mask == Mask::None {
        return Err(SchemaError::BadMask {
            field: name,
            reason: "personal and sensitive fields need a mask other than none".into(),
        });
    }
    if let Some(reason) = f.mask.unsuitable_for(f.kind) {
        return Err(SchemaError::BadMask { field: name, reason });
    }
    if f.kind != FieldType::Text && (f.allowed.is_some() || f.max_len.is_some()) {
        return Err(SchemaError::BadOption {
            field: name,
            reason: "allowed and max_len apply to text fields only".into(),
        });
    }
    if f.scan.is_some() && (f.kind != FieldType::Text || !f.classification.is_encrypted() || f.allowed.is_some()) {
        return Err(SchemaError::BadOption {
            field: name,
            reason: "scan applies to free-text fields (type text, no allowed list) classified personal or sensitive"
                .into(),
        });
    }
    if matches!(&f.allowed, Some(a) if a.is_empty()) {
        return Err(SchemaError::BadOption {
            field: name,
            reason: "allowed must list at least one value".into(),
        });
    }
    if matches!(f.max_len, Some(0)) || matches!(f.max_len, Some(n) if n > 10_000) {
        return Err(SchemaError::BadOption {
            field: name,
            reason: "max_len must be between 1 and 10000".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_loads() {
        let s = Schema::default_schema();
        assert_eq!(s.fields().len(), 13);
        assert_eq!(s.field("national_id").unwrap().kind, FieldType::IdDocument);
        assert_eq!(s.field("country").unwrap().classification, Classification::Internal);
        assert_eq!(s.field("notes").unwrap().scan, Some(ScanAction::Tokenize));
        assert_eq!(
            s.field("national_id").unwrap().classification,
            Classification::Sensitive
        );
        assert!(s.purpose("customer_service").is_some());
        assert!(s.purpose("selling_data").is_none());
    }

    fn one_field(body: &str) -> Result<Schema, SchemaError> {
        Schema::from_toml(&format!("version = 1\n[[fields]]\n{body}\n"))
    }

    #[test]
    fn refuses_unsafe_schemas() {
        let cases: &[(&str, &str)] = &[
            (
                "name = \"id_no\"\ntype = \"cn_national_id\"\nclassification = \"personal\"\nmask = \"national_id\"",
                "at least",
            ),
            (
                "name = \"phone\"\ntype = \"phone\"\nclassification = \"internal\"\nmask = \"phone\"",
                "at least",
            ),
            (
                "name = \"phone\"\ntype = \"phone\"\nclassification = \"personal\"\nmask = \"none\"",
                "mask",
            ),
            (
                "name = \"external_id\"\ntype = \"text\"\nclassification = \"internal\"\nmask = \"none\"",
                "reserved",
            ),
            (
                "name = \"x\"\ntype = \"text\"\nclassification = \"internal\"\nmask = \"none\"\nsecret = 1",
                "TOML",
            ),
            (
                "name = \"Bad\"\ntype = \"text\"\nclassification = \"internal\"\nmask = \"none\"",
                "TOML",
            ),
            (
                "name = \"d\"\ntype = \"date\"\nclassification = \"personal\"\nmask = \"year\"\nallowed = [\"a\"]",
                "text fields only",
            ),
            (
                "name = \"t\"\ntype = \"text\"\nclassification = \"internal\"\nmask = \"none\"\nallowed = []",
                "at least one",
            ),
            (
                "name = \"t\"\ntype = \"text\"\nclassification = \"internal\"\nmask = \"bogus\"",
                "TOML",
            ),
        ];
        for (body, want) in cases {
            let err = one_field(body).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn refuses_duplicates_and_versions() {
        let dup = "version = 1\n[[fields]]\nname=\"a\"\ntype=\"text\"\nclassification=\"internal\"\nmask=\"none\"\n[[fields]]\nname=\"a\"\ntype=\"text\"\nclassification=\"internal\"\nmask=\"none\"\n";
        assert_eq!(
            Schema::from_toml(dup).unwrap_err(),
            SchemaError::DuplicateField("a".into())
        );
        let v2 = "version = 2\n[[fields]]\nname=\"a\"\ntype=\"text\"\nclassification=\"internal\"\nmask=\"none\"\n";
        assert_eq!(Schema::from_toml(v2).unwrap_err(), SchemaError::Version(2));
        assert_eq!(
            Schema::from_toml("version = 1\nfields = []").unwrap_err(),
            SchemaError::FieldCount
        );
    }
}
