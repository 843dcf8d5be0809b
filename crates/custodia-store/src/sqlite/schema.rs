//! The embedded store's audit table (the other tables are shared:
//! [`crate::schema`], rendered for SQLite).

/// The audit log: a field list as one byte per field when every field has
/// a code, else as names joined by ','.
pub(super) const AUDIT: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq      INTEGER PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    customer BLOB,
    fields   BLOB NOT NULL, -- field codes (one byte each), or names joined by ','
    purpose  TEXT,
    outcome  TEXT NOT NULL,
    detail   TEXT,
    prev     BLOB NOT NULL,
    mac      BLOB NOT NULL
);
";
