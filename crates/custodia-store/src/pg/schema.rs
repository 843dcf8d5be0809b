//! The PostgreSQL tables (migration 1). Same shape as the embedded store's,
//! in PostgreSQL types: ids and ciphertexts `bytea`, times `bigint` ms.
//! Migrations run under an advisory lock, so servers starting together do
//! not race; `meta.layout` records the version reached.

/// Migration 1: every table Custodia uses.
pub(super) const MIGRATION_1: &str = "
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
    revoked    boolean NOT NULL
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
";
