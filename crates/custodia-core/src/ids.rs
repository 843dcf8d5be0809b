//! Typed identifiers: a customer id, a field name and a processing purpose
//! can never be confused with one another or with free text.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The customer id is not of the form `cus_` followed by 32 hex digits.
    #[error("invalid customer id {0:?}: expected \"cus_\" followed by 32 hexadecimal digits")]
    CustomerId(String),
    /// The field or purpose name breaks the naming rule.
    #[error("invalid {kind} {value:?}: use 1-64 lowercase letters, digits or underscores, starting with a letter")]
    Name {
        /// `"field name"` or `"purpose"`.
        kind: &'static str,
        /// The rejected text (a name, never personal data).
        value: String,
    },
}

/// The stable, opaque identifier of a customer record.
///
/// Internally a UUIDv7 (time ordered, so new records append to indexes);
/// externally written `cus_` + 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId(Uuid);

impl CustomerId {
    /// A fresh id for a new customer.
    pub fn new() -> Self {
        CustomerId(Uuid::now_v7())
    }
    /// A new id for time `unix_ms` with caller-supplied random bits (lets
    /// bulk imports use a user-space CSPRNG instead of a system call per id).
    pub fn from_parts(unix_ms: u64, random: [u8; 10]) -> Self {
        CustomerId(uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid())
    }
    /// Rebuild an id from its 16 stored bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        CustomerId(Uuid::from_bytes(b))
    }
    /// The 16 bytes stored in the database and bound into ciphertexts.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for CustomerId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cus_{}", self.0.simple())
    }
}

impl fmt::Debug for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for CustomerId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let hex = s
            .strip_prefix("cus_")
            .filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| IdError::CustomerId(truncate(s)))?;
        Uuid::parse_str(hex)
            .map(CustomerId)
            .map_err(|_| IdError::CustomerId(truncate(s)))
    }
}

impl Serialize for CustomerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CustomerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(48).collect()
}

fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        // Arc<str>: names are cloned into every record, event and index entry.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl $name {
            /// Parse and validate a name (`[a-z][a-z0-9_]{0,63}`).
            pub fn new(s: &str) -> Result<Self, IdError> {
                if valid_name(s) {
                    Ok($name(std::sync::Arc::from(s)))
                } else {
                    Err(IdError::Name { kind: $kind, value: truncate(s) })
                }
            }
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// The name of a field in the customer schema, e.g. `mobile`.
    FieldName,
    "field name"
);
name_type!(
    /// A declared processing purpose, e.g. `customer_service`. Every reveal
    /// of clear personal data names one; unknown purposes are refused by the
    /// schema's purpose catalog.
    Purpose,
    "purpose"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_id_round_trips() {
        let id = CustomerId::new();
        let s = id.to_string();
        assert!(s.starts_with("cus_") && s.len() == 36);
        assert_eq!(s.parse::<CustomerId>().unwrap(), id);
    }

    #[test]
    fn customer_id_rejects_garbage() {
        for bad in [
            "",
            "cus_",
            "cus_123",
            "0190a4b2c3d47e8f9a0b1c2d3e4f5a6b",
            "cus_zz90a4b2c3d47e8f9a0b1c2d3e4f5a6b",
            "cus_0190a4b2c3d47e8f9a0b1c2d3e4f5a6b0",
        ] {
            assert!(bad.parse::<CustomerId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(FieldName::new("mobile").is_ok());
        assert!(FieldName::new("national_id_2").is_ok());
        for bad in ["", "Mobile", "1abc", "a-b", "a b", &"a".repeat(65)] {
            assert!(FieldName::new(bad).is_err(), "{bad}");
            assert!(Purpose::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = CustomerId::new();
        let b = CustomerId::new();
        assert!(a.as_bytes()[..6] <= b.as_bytes()[..6]);
    }
}
