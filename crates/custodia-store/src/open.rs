//! Choosing a store from configuration: a storage URL names PostgreSQL;
//! without one, the data directory's embedded SQLite file is used.

use crate::{ChainLinker, Store, StoreError};
use custodia_core::FieldName;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a vault keeps its records.
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    /// The embedded SQLite database at this path.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`).
    Postgres(String),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Storage::Postgres(u) => write!(f, "Postgres({})", crate::pg::redact_url(u)),
        }
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Sqlite(p) => write!(f, "SQLite {}", p.display()),
            Storage::Postgres(u) => write!(f, "PostgreSQL {}", crate::pg::redact_url(u)),
        }
    }
}

impl Storage {
    /// Parse a storage setting. `postgres://` and `postgresql://` URLs name
    /// PostgreSQL; `sqlite:PATH` (or an empty setting, meaning `default`)
    /// names an SQLite file. Anything else is refused, naming what is
    /// accepted.
    pub fn parse(setting: &str, default: &Path) -> Result<Storage, StoreError> {
        let s = setting.trim();
        if s.is_empty() {
            return Ok(Storage::Sqlite(default.to_owned()));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            crate::pg::check_url(s)?;
            return Ok(Storage::Postgres(s.to_owned()));
        }
        if let Some(p) = s.strip_prefix("sqlite:") {
            let p = p.trim_start_matches("//");
            return Ok(Storage::Sqlite(if p.is_empty() {
                default.to_owned()
            } else {
                PathBuf::from(p)
            }));
        }
        Err(StoreError::Database(format!(
            "storage {:?} is not understood: use postgres://USER@HOST/DB or sqlite:PATH",
            crate::pg::redact_url(s)
        )))
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Storage::Postgres(_))
    }
}

/// Open the store `storage` names, registering the schema's `fields`.
pub fn open_store(
    storage: &Storage,
    fields: &[(FieldName, bool)],
    linker: ChainLinker,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match storage {
        Storage::Sqlite(path) => Arc::new(crate::sqlite::SqliteStore::open(path, fields, linker)?),
        Storage::Postgres(url) => Arc::new(crate::pg::PgStore::open(url, fields, linker)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_or_are_refused_by_name() {
        let d = Path::new("/data/custodia.db");
        assert_eq!(Storage::parse("", d).unwrap(), Storage::Sqlite(d.into()));
        assert_eq!(
            Storage::parse("sqlite:/x/y.db", d).unwrap(),
            Storage::Sqlite("/x/y.db".into())
        );
        assert!(Storage::parse("postgres://u@h/db", d).unwrap().is_postgres());
        assert!(Storage::parse("postgresql://u:p@h:5433/db?sslmode=disable", d)
            .unwrap()
            .is_postgres());
        let e = Storage::parse("mysql://u:pw@h/db", d).unwrap_err().to_string();
        assert!(e.contains("postgres://") && e.contains("u:***@h"), "{e}");
        assert!(!e.contains("pw"));
        let shown = format!("{:?}", Storage::parse("postgres://u:hunter2@h/db", d).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
