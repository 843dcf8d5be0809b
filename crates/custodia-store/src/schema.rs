//! The tables, written once for both stores in PostgreSQL's type names;
//! [`for_sqlite`] renders the same layout in SQLite's (`bigserial PRIMARY
//! KEY` becomes `INTEGER PRIMARY KEY`, the row id). Only the audit log's
//! table is a dialect block of each store: SQLite keeps a field list as
//! codes or names in one column, PostgreSQL in two typed ones.
//!
//! `CREATE … IF NOT EXISTS` makes opening an existing database safe; a
//! column added after the first layout goes in an `ADDED_COLUMNS` list and
//! is added at open.

use crate::sql::{args, Sql};
use crate::StoreError;
use custodia_core::FieldName;

/// The table layout this build writes (`meta.layout`).
pub const LAYOUT_VERSION: i64 = 1;

/// Record the layout version in a new database, or refuse one whose
/// recorded layout this build does not know.
pub(crate) fn check_layout(tx: &mut dyn Sql) -> Result<(), StoreError> {
    match tx.one("SELECT value FROM meta WHERE key = 'layout'", &[], |r| r.bytes(0))? {
        None => {
            let v = LAYOUT_VERSION.to_string().into_bytes();
            tx.exec("INSERT INTO meta (key, value) VALUES ('layout', $1)", &args![v])?;
            Ok(())
        }
        Some(v) => {
            let found = String::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| StoreError::Corrupt("meta.layout is not a number".into()))?;
            if found != LAYOUT_VERSION {
                return Err(StoreError::Layout {
                    found,
                    known: LAYOUT_VERSION,
                });
            }
            Ok(())
        }
    }
}

/// Fields with their codes: (the searchable ones, all of them).
pub(crate) type FieldList = (Vec<(i64, FieldName)>, Vec<(i64, FieldName)>);

/// Give every field of the schema a code (the next free one; a field keeps
/// the code it has), then read them all.
pub(crate) fn register_fields(tx: &mut dyn Sql, fields: &[(FieldName, bool)]) -> Result<FieldList, StoreError> {
    for (f, searchable) in fields {
        // `WHERE true`: SQLite reads an upsert after a bare SELECT as a join.
        tx.exec(
            "INSERT INTO field_codes (code, name, searchable)
             SELECT coalesce(max(code), 0) + 1, $1, $2 FROM field_codes WHERE true ON CONFLICT (name) DO NOTHING",
            &args![f.as_str(), *searchable],
        )?;
    }
    field_codes(tx)
}

/// The fields' codes as recorded.
pub(crate) fn field_codes(tx: &mut dyn Sql) -> Result<FieldList, StoreError> {
    let (mut list, mut all) = (Vec::new(), Vec::new());
    let rows = tx.many(
        "SELECT code, name, searchable FROM field_codes ORDER BY code",
        &[],
        |r| Ok((r.int(0)?, r.text(1)?, r.bool(2)?)),
    )?;
    for (code, name, searchable) in rows {
        let f = FieldName::new(&name).map_err(|e| StoreError::Corrupt(format!("field code {code}: {e}")))?;
        if searchable {
            list.push((code, f.clone()));
        }
        all.push((code, f));
    }
    Ok((list, all))
}

/// Every table but the audit log's (the stores add theirs).
pub(crate) const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS field_codes (
    code       integer PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    searchable boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS customers (
    seq         bigserial PRIMARY KEY,
    id          bytea NOT NULL UNIQUE,
    external_id text UNIQUE,
    version     bigint NOT NULL,
    kek_version bigint NOT NULL,
    dk_version  bigint NOT NULL,
    wrapped_dk  bytea NOT NULL,
    sealed      bytea NOT NULL,
    attrs       text NOT NULL,
    created_ms  bigint NOT NULL,
    updated_ms  bigint NOT NULL,
    flags       bigint NOT NULL DEFAULT 0
    -- plus one column bi_<code> per searchable field, with a partial index
);
CREATE TABLE IF NOT EXISTS accounts (
    name          text PRIMARY KEY,
    kind          text NOT NULL,
    password      text,
    roles         text NOT NULL,
    mfa_secret    bytea,
    mfa_pending   bytea,
    mfa_last_step bigint,
    recovery      text NOT NULL,
    disabled      boolean NOT NULL,
    created_ms    bigint NOT NULL,
    updated_ms    bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS training (
    account     text NOT NULL,
    course      text NOT NULL,
    completed   text NOT NULL,
    score       bigint NOT NULL,
    expires     text NOT NULL,
    recorded_by text NOT NULL,
    PRIMARY KEY (account, course, completed)
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id         text PRIMARY KEY,
    account    text NOT NULL,
    digest     bytea NOT NULL UNIQUE,
    scopes     text NOT NULL,
    expires_ms bigint NOT NULL,
    revoked    boolean NOT NULL,
    created_ms bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest     bytea PRIMARY KEY,
    account    text NOT NULL,
    mfa_ok     boolean NOT NULL,
    csrf       text NOT NULL,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    revoked    boolean NOT NULL,
    mfa_at_ms  bigint
);
CREATE TABLE IF NOT EXISTS review_campaigns (
    id         text PRIMARY KEY,
    created_by text NOT NULL,
    created_ms bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS review_items (
    campaign   text NOT NULL,
    account    text NOT NULL,
    role       text NOT NULL,
    decision   text,
    decided_by text,
    decided_ms bigint,
    note       text,
    PRIMARY KEY (campaign, account, role)
);
CREATE TABLE IF NOT EXISTS notices (
    version      bigint PRIMARY KEY,
    toml         text NOT NULL,
    published_ms bigint NOT NULL,
    published_by text NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_receipts (
    seq            bigserial PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    customer       bytea NOT NULL,
    purpose        text NOT NULL,
    notice_version bigint NOT NULL,
    given          boolean NOT NULL,
    ts_ms          bigint NOT NULL,
    channel        text NOT NULL,
    collector      text NOT NULL,
    text_sha256    text NOT NULL,
    kinds          text NOT NULL,
    given_by       text NOT NULL,
    language       text NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_receipts_customer ON consent_receipts (customer, purpose, seq);
CREATE TABLE IF NOT EXISTS consent_evidence (
    receipt         text PRIMARY KEY,
    document_sha256 text NOT NULL
);
CREATE TABLE IF NOT EXISTS portal_tokens (
    digest     bytea PRIMARY KEY,
    customer   bytea NOT NULL,
    kind       text NOT NULL,
    csrf       text NOT NULL,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    used       boolean NOT NULL,
    issued_by  text NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_tokens_customer ON portal_tokens (customer);
CREATE TABLE IF NOT EXISTS requests (
    id              text PRIMARY KEY,
    customer        bytea,
    kind            text NOT NULL,
    status          text NOT NULL,
    channel         text NOT NULL,
    regime          text NOT NULL,
    created_ms      bigint NOT NULL,
    updated_ms      bigint NOT NULL,
    verified_ms     bigint,
    verified_by     text,
    verification    text,
    acknowledged_ms bigint,
    extended        boolean NOT NULL,
    reason          text,
    completed_ms    bigint,
    idem_key        text UNIQUE,
    detail          bytea
);
CREATE INDEX IF NOT EXISTS requests_customer ON requests (customer, created_ms);
CREATE INDEX IF NOT EXISTS requests_open ON requests (created_ms) WHERE status NOT IN ('completed', 'denied');
CREATE TABLE IF NOT EXISTS request_clocks (
    request         text PRIMARY KEY,
    respond_by      text NOT NULL,
    acknowledge_by  text,
    calendar_gap    boolean NOT NULL,
    updated_ms      bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS request_log (
    seq         bigserial PRIMARY KEY,
    request     text NOT NULL,
    ts_ms       bigint NOT NULL,
    actor       text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    note        text NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_request ON request_log (request, seq);
CREATE TABLE IF NOT EXISTS request_recipients (
    request     text NOT NULL,
    recipient   text NOT NULL,
    notified_ms bigint,
    notified_by text,
    PRIMARY KEY (request, recipient)
);
CREATE TABLE IF NOT EXISTS tombstones (
    id          text PRIMARY KEY,
    customer    bytea NOT NULL,
    erased_ms   bigint NOT NULL,
    fields      text NOT NULL,
    request     text,
    basis       text NOT NULL,
    certificate text NOT NULL,
    key_sha256  text NOT NULL,
    actor       text NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressions (
    digest    bytea PRIMARY KEY,
    kind      text NOT NULL,
    tombstone text NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    id         text PRIMARY KEY,
    jws        text NOT NULL,
    created_ms bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS legal_holds (
    id          text PRIMARY KEY,
    customer    bytea NOT NULL,
    reason      text NOT NULL,
    set_by      text NOT NULL,
    set_ms      bigint NOT NULL,
    released_ms bigint,
    released_by text
);
CREATE INDEX IF NOT EXISTS legal_holds_customer ON legal_holds (customer);
CREATE TABLE IF NOT EXISTS vault_tokens (
    token      text PRIMARY KEY,
    customer   bytea NOT NULL,
    field      text NOT NULL,
    kind       text NOT NULL,
    sealed     bytea NOT NULL,
    created_ms bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_tokens_customer ON vault_tokens (customer);
CREATE TABLE IF NOT EXISTS lifecycle (
    customer         bytea PRIMARY KEY,
    contract_end_ms  bigint,
    last_activity_ms bigint,
    reviewed_ms      bigint
);
CREATE TABLE IF NOT EXISTS counters (
    key             text PRIMARY KEY,
    failures        bigint NOT NULL,
    window_start_ms bigint NOT NULL,
    locked_until_ms bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS account_links (
    digest     bytea PRIMARY KEY,
    account    text NOT NULL,
    kind       text NOT NULL,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    used       boolean NOT NULL,
    created_by text NOT NULL
);
CREATE INDEX IF NOT EXISTS account_links_account ON account_links (account, kind);
CREATE TABLE IF NOT EXISTS approvals (
    id           text PRIMARY KEY,
    kind         text NOT NULL,
    account      text NOT NULL,
    roles        text NOT NULL,
    requested_by text NOT NULL,
    requested_ms bigint NOT NULL,
    state        text NOT NULL,
    decided_by   text,
    decided_ms   bigint,
    note         text,
    payload      bytea
);
CREATE INDEX IF NOT EXISTS counters_window ON counters (window_start_ms);
";

/// Every table, in creation order (which is also an order to copy them
/// in: nothing refers to a table created after it), the audit log last.
pub(crate) fn tables() -> Vec<&'static str> {
    let mut out: Vec<&str> = TABLES
        .split("CREATE TABLE IF NOT EXISTS ")
        .skip(1)
        .filter_map(|t| t.split_whitespace().next())
        .collect();
    out.push("audit");
    out
}

/// The tables' `bigserial` columns, whose sequences a copy must continue.
pub(crate) fn serials() -> Vec<(&'static str, &'static str)> {
    TABLES
        .split("CREATE TABLE IF NOT EXISTS ")
        .skip(1)
        .flat_map(|t| {
            let name = t.split_whitespace().next().unwrap_or_default();
            t.lines()
                .filter(|l| l.contains(" bigserial "))
                .filter_map(move |l| l.split_whitespace().next().map(|c| (name, c)))
        })
        .collect()
}

/// Rendered in SQLite's type names (see the module's doc).
pub(crate) fn for_sqlite(ddl: &str) -> String {
    let mut out = String::with_capacity(ddl.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "bigserial" | "bigint" | "integer" | "boolean" => "INTEGER",
            "bytea" => "BLOB",
            "text" => "TEXT",
            "false" => "0",
            "true" => "1",
            w => w,
        });
        word.clear();
    };
    let mut quoted = false;
    for c in ddl.chars() {
        if !quoted && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c == '\'' {
            quoted = !quoted;
        }
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_its_own_type_names_and_row_ids() {
        assert_eq!(
            for_sqlite("seq bigserial PRIMARY KEY, b bytea, n bigint, t text_sha256 text, f boolean DEFAULT false"),
            "seq INTEGER PRIMARY KEY, b BLOB, n INTEGER, t text_sha256 TEXT, f INTEGER DEFAULT 0"
        );
        // Names that only contain a type's letters, and quoted values, stay.
        assert_eq!(for_sqlite("bigint_x, 'text', textual"), "bigint_x, 'text', textual");
        let t = tables();
        assert_eq!(t.first(), Some(&"meta"));
        assert_eq!(t.last(), Some(&"audit"));
        for x in [
            "field_codes",
            "customers",
            "approvals",
            "counters",
            "lifecycle",
            "vault_tokens",
        ] {
            assert!(t.contains(&x), "{x}");
        }
        assert_eq!(
            serials(),
            [
                ("customers", "seq"),
                ("consent_receipts", "seq"),
                ("request_log", "seq")
            ]
        );
        let lite = for_sqlite(TABLES);
        for t in ["bytea", "bigint", "boolean", "bigserial"] {
            assert!(!lite.contains(t), "{t} left in the SQLite layout");
        }
    }
}
