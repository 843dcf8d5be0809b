//! The PostgreSQL audit table (the other tables are shared:
//! [`crate::schema`]). Migrations run under an advisory lock, so servers
//! starting together do not race; `meta.layout` records the version reached.

/// The audit log: a field list as codes (`fields`) or names (`field_names`).
pub(super) const AUDIT: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq         bigint PRIMARY KEY,
    ts_ms       bigint NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    customer    bytea,
    fields      bytea,  -- field codes, one byte each, when every field has one
    field_names text,   -- else the names joined by ','
    purpose     text,
    outcome     text NOT NULL,
    detail      text,
    prev        bytea NOT NULL,
    mac         bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_customer ON audit (customer, seq) WHERE customer IS NOT NULL;
";
