//! # custodia-core
//!
//! The pure domain core of Custodia: the typed vocabulary (customer ids, field
//! names, purposes), the customer schema, per-type validators and
//! normalizers, display masks and audit events.
//!
//! This crate performs no I/O and holds no keys. Everything here is
//! deterministic and cheap to test; the outer crates (crypto, storage, vault,
//! server, CLI) depend on it, never the other way round.

pub mod accounts;
pub mod audit;
pub mod consent;
pub mod iddoc;
pub mod ids;
pub mod law;
pub mod mask;
pub mod normalize;
pub mod notice;
pub mod policy;
pub mod retention;
pub mod rights;
pub mod schema;
pub mod validate;

#[cfg(test)]
mod fuzz;

pub use iddoc::{IdKind, RecordContext};
pub use ids::{CustomerId, FieldName, IdError, Purpose};
pub use schema::{Classification, FieldDef, FieldType, Schema, SchemaError};
pub use validate::{ValidationError, Validator};
