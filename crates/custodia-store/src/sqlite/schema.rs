//! The embedded store's tables, in SQLite's types (`INTEGER PRIMARY KEY`
//! keeps the row id as the key). The statements on them are shared with
//! PostgreSQL (see [`crate::sql`]); only the layout is written per dialect.

pub(super) const MAIN_SQL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS field_codes (
    code       INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    searchable INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS customers (
    seq         INTEGER PRIMARY KEY,
    id          BLOB NOT NULL UNIQUE,
    external_id TEXT UNIQUE,
    version     INTEGER NOT NULL,
    kek_version INTEGER NOT NULL,
    dk_version  INTEGER NOT NULL,
    wrapped_dk  BLOB NOT NULL,
    sealed      BLOB NOT NULL,
    attrs       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    flags       INTEGER NOT NULL DEFAULT 0
    -- plus one column bi_<code> per searchable field, with a partial index
);
CREATE TABLE IF NOT EXISTS accounts (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    password      TEXT,
    roles         TEXT NOT NULL,
    mfa_secret    BLOB,
    mfa_pending   BLOB,
    mfa_last_step INTEGER,
    recovery      TEXT NOT NULL,
    disabled      INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS training (
    account     TEXT NOT NULL,
    course      TEXT NOT NULL,
    completed   TEXT NOT NULL,
    score       INTEGER NOT NULL,
    expires     TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (account, course, completed)
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id         TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    digest     BLOB NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest     BLOB PRIMARY KEY,
    account    TEXT NOT NULL,
    mfa_ok     INTEGER NOT NULL,
    csrf       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS review_campaigns (
    id         TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS review_items (
    campaign   TEXT NOT NULL,
    account    TEXT NOT NULL,
    role       TEXT NOT NULL,
    decision   TEXT,
    decided_by TEXT,
    decided_ms INTEGER,
    note       TEXT,
    PRIMARY KEY (campaign, account, role)
);
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

pub(super) const PRIVACY_SQL: &str = "
CREATE TABLE IF NOT EXISTS notices (
    version      INTEGER PRIMARY KEY,
    toml         TEXT NOT NULL,
    published_ms INTEGER NOT NULL,
    published_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_receipts (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    customer       BLOB NOT NULL,
    purpose        TEXT NOT NULL,
    notice_version INTEGER NOT NULL,
    given          INTEGER NOT NULL,
    ts_ms          INTEGER NOT NULL,
    channel        TEXT NOT NULL,
    collector      TEXT NOT NULL,
    text_sha256    TEXT NOT NULL,
    kinds          TEXT NOT NULL,
    given_by       TEXT NOT NULL,
    language       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_receipts_customer ON consent_receipts (customer, purpose, seq);
CREATE TABLE IF NOT EXISTS portal_tokens (
    digest     BLOB PRIMARY KEY,
    customer   BLOB NOT NULL,
    kind       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used       INTEGER NOT NULL,
    issued_by  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_tokens_customer ON portal_tokens (customer);
";

pub(super) const RIGHTS_SQL: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id              TEXT PRIMARY KEY,
    customer        BLOB,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    regime          TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    verified_ms     INTEGER,
    verified_by     TEXT,
    verification    TEXT,
    acknowledged_ms INTEGER,
    extended        INTEGER NOT NULL,
    reason          TEXT,
    completed_ms    INTEGER,
    idem_key        TEXT UNIQUE,
    detail          BLOB
);
CREATE INDEX IF NOT EXISTS requests_customer ON requests (customer, created_ms);
CREATE INDEX IF NOT EXISTS requests_open ON requests (created_ms) WHERE status NOT IN ('completed', 'denied');
CREATE TABLE IF NOT EXISTS request_log (
    seq         INTEGER PRIMARY KEY,
    request     TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_request ON request_log (request, seq);
CREATE TABLE IF NOT EXISTS request_recipients (
    request     TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    notified_ms INTEGER,
    notified_by TEXT,
    PRIMARY KEY (request, recipient)
);
CREATE TABLE IF NOT EXISTS tombstones (
    id          TEXT PRIMARY KEY,
    customer    BLOB NOT NULL,
    erased_ms   INTEGER NOT NULL,
    fields      TEXT NOT NULL,
    request     TEXT,
    basis       TEXT NOT NULL,
    certificate TEXT NOT NULL,
    key_sha256  TEXT NOT NULL,
    actor       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    id         TEXT PRIMARY KEY,
    jws        TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS legal_holds (
    id          TEXT PRIMARY KEY,
    customer    BLOB NOT NULL,
    reason      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_ms      INTEGER NOT NULL,
    released_ms INTEGER,
    released_by TEXT
);
CREATE INDEX IF NOT EXISTS legal_holds_customer ON legal_holds (customer);
CREATE TABLE IF NOT EXISTS vault_tokens (
    token      TEXT PRIMARY KEY,
    customer   BLOB NOT NULL,
    field      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_tokens_customer ON vault_tokens (customer);
CREATE TABLE IF NOT EXISTS lifecycle (
    customer         BLOB PRIMARY KEY,
    contract_end_ms  INTEGER,
    last_activity_ms INTEGER,
    reviewed_ms      INTEGER
);
";
