//! The embedded store: one SQLite database in WAL mode.
//!
//! * All writes go through one writer thread that commits whatever has
//!   queued up in one transaction (group commit): under load, one fsync
//!   covers many requests, and each request is acknowledged only after the
//!   fsync that covers it (`synchronous = FULL`).
//! * Each mutation runs in its own savepoint, so one failure does not undo
//!   its neighbours.
//! * The audit chain's head is read inside the write transaction
//!   (`BEGIN IMMEDIATE`), so several processes writing to one data
//!   directory still produce one unbroken chain.
//! * `secure_delete` zeroes freed pages, so deleted wrapped keys do not
//!   linger in the file.

mod privacy;
mod rights;

pub(crate) use crate::codes::split_list;
use crate::codes::{Codes, FieldCodes};
use crate::{
    AccountRecord, Applied, CertificateRecord, ChainLinker, ConsentRecord, ConsentTally, HoldRecord, Lifecycle,
    Mutation, NoticeRecord, Pending, PortalTokenRecord, RecipientNotice, RequestLogEntry, RequestRecord, ReviewItem,
    SessionRecord, Store, StoreError, StoredCustomer, TokenRecord, Tombstone, TrainingRecord, VaultToken,
};
use custodia_core::audit::{Action, AuditEvent, ChainedEvent, Outcome};
use custodia_core::{CustomerId, FieldName};
use privacy::Privacy;
use rights::Rights;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// The table layout this build writes.
pub const LAYOUT_VERSION: i64 = 1;

/// Most mutations committed in one transaction.
const GROUP_LIMIT: usize = 4096;

const SCHEMA_SQL: &str = "
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

fn db_err(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DiskFull
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Database(other.to_string()),
    }
}

type Reply = tokio::sync::oneshot::Sender<crate::Outcomes>;

struct Job {
    muts: Vec<Mutation>,
    reply: Reply,
}

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    tx: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    codes: Arc<Codes>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStore({})", self.path.display())
    }
}

fn open_conn(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err)?;
    c.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_err)?;
    c.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA secure_delete = ON;
         PRAGMA cache_size = -{cache_kib};
         PRAGMA wal_autocheckpoint = 16384;"
    ))
    .map_err(db_err)?;
    Ok(c)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`. `fields` lists the
    /// schema's fields, each with whether it is searchable (those get a
    /// blind-index column); `linker` computes audit chain MACs.
    pub fn open(path: &Path, fields: &[(FieldName, bool)], linker: ChainLinker) -> Result<SqliteStore, StoreError> {
        let w = open_conn(path, 64 * 1024)?;
        w.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        let setup = (|| -> Result<Codes, StoreError> {
            w.execute_batch(SCHEMA_SQL).map_err(db_err)?;
            w.execute_batch(privacy::SCHEMA_SQL).map_err(db_err)?;
            w.execute_batch(rights::SCHEMA_SQL).map_err(db_err)?;
            w.execute_batch(crate::access::SCHEMA_SQL).map_err(db_err)?;
            let account_columns: Vec<String> = w
                .prepare("SELECT name FROM pragma_table_info('accounts')")
                .map_err(db_err)?
                .query_map([], |r| r.get(0))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            for (col, ty) in crate::access::ACCOUNT_ADDED_COLUMNS {
                if !account_columns.iter().any(|c| c == col) {
                    w.execute_batch(&format!("ALTER TABLE accounts ADD COLUMN {col} {ty};"))
                        .map_err(db_err)?;
                }
            }
            let layout: Option<Vec<u8>> = w
                .query_row("SELECT value FROM meta WHERE key = 'layout'", [], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            match layout {
                None => {
                    w.execute(
                        "INSERT INTO meta (key, value) VALUES ('layout', ?1)",
                        [LAYOUT_VERSION.to_string().into_bytes()],
                    )
                    .map_err(db_err)?;
                }
                Some(v) => {
                    let found = String::from_utf8_lossy(&v).parse::<i64>().unwrap_or(-1);
                    if found != LAYOUT_VERSION {
                        return Err(StoreError::Layout {
                            found,
                            known: LAYOUT_VERSION,
                        });
                    }
                }
            }
            for (f, searchable) in fields {
                w.execute(
                    "INSERT OR IGNORE INTO field_codes (name, searchable) VALUES (?1, ?2)",
                    params![f.as_str(), searchable],
                )
                .map_err(db_err)?;
            }
            let mut list = Vec::new();
            let mut all = Vec::new();
            let mut st = w
                .prepare("SELECT code, name, searchable FROM field_codes ORDER BY code")
                .map_err(db_err)?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))
                })
                .map_err(db_err)?;
            for row in rows {
                let (code, name, searchable) = row.map_err(db_err)?;
                let fname = FieldName::new(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if searchable {
                    list.push((code, fname.clone()));
                }
                all.push((code, fname));
            }
            drop(st);
            let existing: Vec<String> = w
                .prepare("SELECT name FROM pragma_table_info('customers')")
                .map_err(db_err)?
                .query_map([], |r| r.get(0))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            if !existing.iter().any(|c| c == "flags") {
                w.execute_batch("ALTER TABLE customers ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;")
                    .map_err(db_err)?;
            }
            for (code, _) in &list {
                if !existing.iter().any(|c| c == &format!("bi_{code}")) {
                    w.execute_batch(&format!("ALTER TABLE customers ADD COLUMN bi_{code} INTEGER;"))
                        .map_err(db_err)?;
                }
            }
            // Also rebuilds indexes a bulk load dropped before a crash.
            create_blind_indexes(&w, &list)?;
            let codes = Codes::build(list, all, |n| format!("?{n}"));
            Ok(codes)
        })();
        let codes = match setup {
            Ok(c) => {
                w.execute_batch("COMMIT").map_err(db_err)?;
                c
            }
            Err(e) => {
                let _ = w.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let codes = Arc::new(codes);
        let (tx, rx) = mpsc::channel::<Job>();
        let wcodes = codes.clone();
        let handle = std::thread::Builder::new()
            .name("custodia-writer".into())
            .spawn(move || writer_loop(w, rx, wcodes, linker))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: Mutex::new(Vec::new()),
            codes,
        })
    }

    /// Stop the writer after it has applied everything queued.
    pub fn close(&self) {
        self.tx.lock().expect("tx").take();
        if let Some(h) = self.writer.lock().expect("writer").take() {
            let _ = h.join();
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.readers.lock().expect("readers").pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path, 8 * 1024)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().expect("readers");
        if pool.len() < 16 {
            pool.push(conn);
        }
        out
    }

    fn select(&self, sql_tail: &str, p: impl rusqlite::Params) -> Result<Vec<StoredCustomer>, StoreError> {
        self.with_reader(|c| {
            let sql = format!("SELECT {} FROM customers {sql_tail}", self.codes.sql.select);
            let mut st = c.prepare_cached(&sql).map_err(db_err)?;
            let mut rows = st.query(p).map_err(db_err)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(db_err)? {
                out.push(read_customer(r, &self.codes)?);
            }
            Ok(out)
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_customer(r: &rusqlite::Row<'_>, codes: &Codes) -> Result<StoredCustomer, StoreError> {
    let id: Vec<u8> = r.get(1).map_err(db_err)?;
    let id: [u8; 16] = id
        .try_into()
        .map_err(|_| StoreError::Corrupt("customer id is not 16 bytes".into()))?;
    let mut blind = Vec::new();
    for (i, (_, name)) in codes.list.iter().enumerate() {
        if let Some(h) = r.get::<_, Option<i64>>(12 + i).map_err(db_err)? {
            blind.push((name.clone(), h));
        }
    }
    Ok(StoredCustomer {
        id: CustomerId::from_bytes(id),
        external_id: r.get(2).map_err(db_err)?,
        version: r.get(3).map_err(db_err)?,
        kek_version: r.get(4).map_err(db_err)?,
        dk_version: r.get(5).map_err(db_err)?,
        wrapped_dk: r.get(6).map_err(db_err)?,
        sealed: r.get(7).map_err(db_err)?,
        attrs: r.get(8).map_err(db_err)?,
        blind,
        created_ms: r.get(9).map_err(db_err)?,
        updated_ms: r.get(10).map_err(db_err)?,
        flags: r.get(11).map_err(db_err)?,
    })
}

fn create_blind_indexes(c: &Connection, list: &[(i64, FieldName)]) -> Result<(), StoreError> {
    for (code, _) in list {
        c.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS customers_bi_{code} ON customers (bi_{code}) WHERE bi_{code} IS NOT NULL;"
        ))
        .map_err(db_err)?;
    }
    Ok(())
}

struct Head {
    seq: u64,
    mac: [u8; 32],
}

fn read_head(c: &Connection) -> Result<Head, StoreError> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1")
        .map_err(db_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db_err)?;
    match row {
        None => Ok(Head { seq: 0, mac: [0; 32] }),
        Some((seq, mac)) => Ok(Head {
            seq: seq as u64,
            mac: mac
                .try_into()
                .map_err(|_| StoreError::Corrupt("audit MAC is not 32 bytes".into()))?,
        }),
    }
}

/// Field lists are stored as one byte per field when every field has a
/// code, else as names joined by ','. Both decode to the same names.
fn encode_fields(fields: &[FieldName], codes: &Codes) -> rusqlite::types::Value {
    match codes.encode(fields) {
        Ok(b) => rusqlite::types::Value::Blob(b),
        Err(names) => rusqlite::types::Value::Text(names),
    }
}

fn decode_fields(v: rusqlite::types::Value, codes: &Codes) -> Result<Vec<FieldName>, StoreError> {
    match v {
        rusqlite::types::Value::Blob(b) => codes.decode_coded(&b),
        rusqlite::types::Value::Text(t) => FieldCodes::decode_names(&t),
        _ => Err(StoreError::Corrupt("audit event: bad field list".into())),
    }
}

fn append_events(
    c: &Connection,
    head: &mut Head,
    events: &[AuditEvent],
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<(), StoreError> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO audit (seq, ts_ms, actor, action, customer, fields, purpose, outcome, detail, prev, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(db_err)?;
    for e in events {
        let seq = head.seq + 1;
        let mac = linker(&head.mac, &e.canonical_bytes(seq));
        let fields = encode_fields(&e.fields, codes);
        st.execute(params![
            seq as i64,
            e.ts_ms,
            e.actor,
            e.action.as_str(),
            e.customer.as_ref().map(|c| c.as_bytes().to_vec()),
            fields,
            e.purpose.as_ref().map(|p| p.as_str()),
            e.outcome.as_str(),
            e.detail,
            head.mac.to_vec(),
            mac.to_vec(),
        ])
        .map_err(db_err)?;
        head.seq = seq;
        head.mac = mac;
    }
    Ok(())
}

fn apply_one(
    c: &Connection,
    m: &Mutation,
    head: &mut Head,
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Applied, StoreError> {
    match m {
        Mutation::Insert {
            customer: cu,
            consents,
            events,
        } => {
            let blind = codes.values(&cu.blind)?;
            let id = cu.id.as_bytes().to_vec();
            let mut p: Vec<&dyn rusqlite::ToSql> = vec![
                &id,
                &cu.external_id,
                &cu.version,
                &cu.kek_version,
                &cu.dk_version,
                &cu.wrapped_dk,
                &cu.sealed,
                &cu.attrs,
                &cu.created_ms,
                &cu.updated_ms,
            ];
            p.extend(blind.iter().map(|b| b as &dyn rusqlite::ToSql));
            let inserted = c
                .prepare_cached(&codes.sql.insert)
                .map_err(db_err)?
                .execute(&p[..])
                .map_err(db_err)?;
            if inserted == 0 {
                let id: Vec<u8> = c
                    .prepare_cached("SELECT id FROM customers WHERE external_id = ?1")
                    .map_err(db_err)?
                    .query_row([&cu.external_id], |r| r.get(0))
                    .map_err(db_err)?;
                let id: [u8; 16] = id
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("customer id is not 16 bytes".into()))?;
                return Ok(Applied::ExternalIdExists(CustomerId::from_bytes(id)));
            }
            privacy::insert_receipts(c, consents)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::Update { customer: cu, events } => {
            let blind = codes.values(&cu.blind)?;
            let id = cu.id.as_bytes().to_vec();
            let mut p: Vec<&dyn rusqlite::ToSql> =
                vec![&id, &cu.version, &cu.dk_version, &cu.sealed, &cu.attrs, &cu.updated_ms];
            p.extend(blind.iter().map(|b| b as &dyn rusqlite::ToSql));
            let n = c
                .prepare_cached(&codes.sql.update)
                .map_err(db_err)?
                .execute(&p[..])
                .map_err(db_err)?;
            if n == 0 {
                let current: Option<i64> = c
                    .prepare_cached("SELECT version FROM customers WHERE id = ?1")
                    .map_err(db_err)?
                    .query_row([&id], |r| r.get(0))
                    .optional()
                    .map_err(db_err)?;
                return Ok(match current {
                    None => Applied::NotFound,
                    Some(v) => Applied::VersionConflict(v),
                });
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::Delete { id, events } => {
            let n = c
                .prepare_cached("DELETE FROM customers WHERE id = ?1")
                .map_err(db_err)?
                .execute([id.as_bytes().to_vec()])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::Rewrap {
            id,
            from_kek,
            to_kek,
            wrapped_dk,
        } => {
            let n = c
                .prepare_cached(
                    "UPDATE customers SET kek_version = ?3, wrapped_dk = ?4 WHERE id = ?1 AND kek_version = ?2",
                )
                .map_err(db_err)?
                .execute(params![id.as_bytes().to_vec(), from_kek, to_kek, wrapped_dk])
                .map_err(db_err)?;
            Ok(if n == 1 {
                Applied::Done
            } else {
                Applied::AlreadyRewrapped
            })
        }
        Mutation::Audit(events) => {
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutAccount {
            account: a,
            create,
            events,
        } => {
            if !put_account(c, a, *create)? {
                return Ok(Applied::AccountExists);
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::CountFailure {
            key,
            now_ms,
            window_ms,
            limit,
            lock_ms,
            events,
        } => {
            let old = c
                .prepare_cached(crate::access::COUNTER_GET)
                .map_err(db_err)?
                .query_row([key], read_counter)
                .optional()
                .map_err(db_err)?;
            let (n, locked) = crate::next_counter(old, key, *now_ms, *window_ms, *limit, *lock_ms);
            c.prepare_cached(crate::access::COUNTER_PUT)
                .map_err(db_err)?
                .execute(params![n.key, n.failures, n.window_start_ms, n.locked_until_ms])
                .map_err(db_err)?;
            if crate::access::prune_now() {
                c.prepare_cached(crate::access::COUNTER_PRUNE)
                    .map_err(db_err)?
                    .execute([now_ms - 7 * 86_400_000])
                    .map_err(db_err)?;
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Counted(n, locked))
        }
        Mutation::ClearCounters { keys, prefixes, events } => {
            for k in keys {
                c.prepare_cached(crate::access::COUNTER_DELETE)
                    .map_err(db_err)?
                    .execute([k])
                    .map_err(db_err)?;
            }
            for k in prefixes {
                c.prepare_cached(crate::access::COUNTER_DELETE_PREFIX)
                    .map_err(db_err)?
                    .execute([k])
                    .map_err(db_err)?;
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutAccountLink { link: l, events } => {
            c.prepare_cached(crate::access::LINK_DROP_OLDER)
                .map_err(db_err)?
                .execute(params![l.account, l.kind])
                .map_err(db_err)?;
            c.prepare_cached(crate::access::LINK_INSERT)
                .map_err(db_err)?
                .execute(params![
                    l.digest,
                    l.account,
                    l.kind,
                    l.created_ms,
                    l.expires_ms,
                    l.used,
                    l.created_by
                ])
                .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::UseAccountLink {
            digest,
            now_ms,
            account,
            expect_updated_ms,
            events,
        } => {
            let usable = c
                .prepare_cached(crate::access::LINK_USABLE)
                .map_err(db_err)?
                .query_row(params![digest, now_ms], |_| Ok(()))
                .optional()
                .map_err(db_err)?
                .is_some();
            if !usable || !put_account_if(c, account, *expect_updated_ms)? {
                return Ok(Applied::NotFound);
            }
            c.prepare_cached(crate::access::LINK_USE)
                .map_err(db_err)?
                .execute(params![digest, now_ms])
                .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutAccountIf {
            account,
            expect_updated_ms,
            events,
        } => {
            if !put_account_if(c, account, *expect_updated_ms)? {
                return Ok(Applied::NotFound);
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::DropAccountLinks { account } => {
            c.prepare_cached(crate::access::LINK_DROP_ACCOUNT)
                .map_err(db_err)?
                .execute([account])
                .map_err(db_err)?;
            Ok(Applied::Done)
        }
        Mutation::PutApproval { approval: a, events } => {
            c.prepare_cached(crate::access::APPROVAL_INSERT)
                .map_err(db_err)?
                .execute(params![
                    a.id,
                    a.kind,
                    a.account,
                    a.roles.join(","),
                    a.requested_by,
                    a.requested_ms,
                    a.state,
                    a.decided_by,
                    a.decided_ms,
                    a.note,
                    a.payload
                ])
                .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::DecideApproval { approval: a, events } => {
            let n = c
                .prepare_cached(crate::access::APPROVAL_DECIDE)
                .map_err(db_err)?
                .execute(params![a.state, a.decided_by, a.decided_ms, a.note, a.id])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::RevokeSessions { account, events } => {
            c.prepare_cached(crate::access::SESSIONS_REVOKE)
                .map_err(db_err)?
                .execute([account])
                .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutSession { session: x, events } => {
            c.prepare_cached(
                "INSERT INTO sessions (digest, account, mfa_ok, csrf, created_ms, expires_ms, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (digest) DO UPDATE SET mfa_ok = excluded.mfa_ok, expires_ms = excluded.expires_ms, revoked = excluded.revoked",
            )
            .map_err(db_err)?
            .execute(params![x.digest, x.account, x.mfa_ok, x.csrf, x.created_ms, x.expires_ms, x.revoked])
            .map_err(db_err)?;
            // Expired sessions are of no use to anyone: drop them as we go.
            c.prepare_cached("DELETE FROM sessions WHERE expires_ms < ?1")
                .map_err(db_err)?
                .execute([x.created_ms.min(x.expires_ms) - 86_400_000])
                .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutCampaign {
            id,
            created_by,
            created_ms,
            items,
            events,
        } => {
            c.prepare_cached("INSERT INTO review_campaigns (id, created_by, created_ms) VALUES (?1, ?2, ?3)")
                .map_err(db_err)?
                .execute(params![id, created_by, created_ms])
                .map_err(db_err)?;
            let mut st = c
                .prepare_cached("INSERT INTO review_items (campaign, account, role) VALUES (?1, ?2, ?3)")
                .map_err(db_err)?;
            for it in items {
                st.execute(params![id, it.account, it.role]).map_err(db_err)?;
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::DecideReview { item, account, events } => {
            let n = c
                .prepare_cached(
                    "UPDATE review_items SET decision = ?4, decided_by = ?5, decided_ms = ?6, note = ?7
                     WHERE campaign = ?1 AND account = ?2 AND role = ?3 AND decision IS NULL",
                )
                .map_err(db_err)?
                .execute(params![
                    item.campaign,
                    item.account,
                    item.role,
                    item.decision,
                    item.decided_by,
                    item.decided_ms,
                    item.note
                ])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            if let Some(a) = account {
                c.prepare_cached("UPDATE accounts SET roles = ?2, updated_ms = ?3 WHERE name = ?1")
                    .map_err(db_err)?
                    .execute(params![a.name, a.roles.join(","), a.updated_ms])
                    .map_err(db_err)?;
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutToken { token: t, events } => {
            c.prepare_cached(
                "INSERT INTO api_tokens (id, account, digest, scopes, expires_ms, revoked, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?
            .execute(params![t.id, t.account, t.digest, t.scopes.join(","), t.expires_ms, t.revoked, t.created_ms])
            .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::RevokeToken { id, events } => {
            let n = c
                .prepare_cached("UPDATE api_tokens SET revoked = 1 WHERE id = ?1")
                .map_err(db_err)?
                .execute([id])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::PutTraining { training: t, events } => {
            c.prepare_cached(
                "INSERT INTO training (account, course, completed, score, expires, recorded_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (account, course, completed) DO UPDATE SET score = excluded.score, expires = excluded.expires, recorded_by = excluded.recorded_by",
            )
            .map_err(db_err)?
            .execute(params![t.account, t.course, t.completed, t.score, t.expires, t.recorded_by])
            .map_err(db_err)?;
            append_events(c, head, events, codes, linker)?;
            Ok(Applied::Done)
        }
        Mutation::BeginBulkLoad => {
            let empty: bool = c
                .prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM customers)")
                .map_err(db_err)?
                .query_row([], |r| r.get(0))
                .map_err(db_err)?;
            if !empty {
                return Ok(Applied::NotFound);
            }
            for (code, _) in &codes.list {
                c.execute_batch(&format!("DROP INDEX IF EXISTS customers_bi_{code};"))
                    .map_err(db_err)?;
            }
            Ok(Applied::Done)
        }
        Mutation::EndBulkLoad => {
            create_blind_indexes(c, &codes.list)?;
            Ok(Applied::Done)
        }
        Mutation::PutNotice { notice, events } => {
            privacy::apply(c, Privacy::Notice(notice), events, head, codes, linker)
        }
        Mutation::PutConsents {
            customer,
            receipts,
            events,
        } => privacy::apply(c, Privacy::Consents(customer, receipts), events, head, codes, linker),
        Mutation::PutPortalToken { token, events } => {
            privacy::apply(c, Privacy::PortalToken(token), events, head, codes, linker)
        }
        Mutation::UsePortalToken {
            digest,
            now_ms,
            then,
            events,
        } => privacy::apply(
            c,
            Privacy::UsePortalToken(digest, *now_ms, then.as_ref()),
            events,
            head,
            codes,
            linker,
        ),
        Mutation::PutRequest {
            request,
            expect_status,
            log,
            recipients,
            events,
        } => rights::apply(
            c,
            Rights::Request {
                request,
                expect: expect_status.as_deref(),
                log,
                recipients,
            },
            events,
            head,
            codes,
            linker,
        ),
        Mutation::Erase {
            tombstone,
            certificate,
            rekeyed,
            request,
            replay,
            events,
        } => rights::apply(
            c,
            Rights::Erase {
                tombstone,
                certificate: certificate.as_ref(),
                rekeyed: rekeyed.as_deref(),
                request: request.as_deref(),
                replay: *replay,
            },
            events,
            head,
            codes,
            linker,
        ),
        Mutation::PutTombstone { tombstone, events } => {
            rights::apply(c, Rights::Tombstone(tombstone), events, head, codes, linker)
        }
        Mutation::SetFlags { id, flags, events } => {
            rights::apply(c, Rights::Flags(id, *flags), events, head, codes, linker)
        }
        Mutation::PutVaultTokens {
            customer,
            replace,
            tokens,
            events,
        } => rights::apply(
            c,
            Rights::Tokens(customer, replace, tokens),
            events,
            head,
            codes,
            linker,
        ),
        Mutation::PutCertificate { certificate, events } => {
            rights::apply(c, Rights::Certificate(certificate), events, head, codes, linker)
        }
        Mutation::PutHold { hold, events } => rights::apply(c, Rights::Hold(hold), events, head, codes, linker),
        Mutation::PutLifecycle { lifecycle, events } => {
            rights::apply(c, Rights::Lifecycle(lifecycle), events, head, codes, linker)
        }
        Mutation::SetMeta { key, value } => {
            c.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )
            .map_err(db_err)?
            .execute(params![key, value])
            .map_err(db_err)?;
            Ok(Applied::Done)
        }
    }
}

/// Apply a group in one transaction. Fast path: no savepoints (they copy
/// every touched page into a sub-journal). If any mutation fails, the whole
/// transaction is rolled back and the group is replayed with one savepoint
/// per mutation, so the failure stays isolated.
fn run_group(
    c: &Connection,
    jobs: &[Job],
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Vec<Vec<Result<Applied, StoreError>>>, StoreError> {
    match run_group_with(c, jobs, codes, linker, false) {
        Ok(all) if all.iter().flatten().all(|r| r.is_ok()) => Ok(all),
        Ok(_) => run_group_with(c, jobs, codes, linker, true),
        Err(e) => Err(e),
    }
}

fn run_group_with(
    c: &Connection,
    jobs: &[Job],
    codes: &Codes,
    linker: &ChainLinker,
    isolate: bool,
) -> Result<Vec<Vec<Result<Applied, StoreError>>>, StoreError> {
    c.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
    let body = (|| {
        let mut head = read_head(c)?;
        let mut all = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut results = Vec::with_capacity(job.muts.len());
            for m in &job.muts {
                if !isolate {
                    let r = apply_one(c, m, &mut head, codes, linker);
                    let failed = r.is_err();
                    results.push(r);
                    if failed {
                        // Abandon the fast path; the caller replays with savepoints.
                        all.push(results);
                        return Ok((all, false));
                    }
                    continue;
                }
                c.prepare_cached("SAVEPOINT m")
                    .map_err(db_err)?
                    .execute([])
                    .map_err(db_err)?;
                let saved = Head {
                    seq: head.seq,
                    mac: head.mac,
                };
                match apply_one(c, m, &mut head, codes, linker) {
                    Ok(a) => {
                        c.prepare_cached("RELEASE m")
                            .map_err(db_err)?
                            .execute([])
                            .map_err(db_err)?;
                        results.push(Ok(a));
                    }
                    Err(e) => {
                        c.execute_batch("ROLLBACK TO m; RELEASE m").map_err(db_err)?;
                        head = saved;
                        results.push(Err(e));
                    }
                }
            }
            all.push(results);
        }
        Ok((all, true))
    })();
    match body {
        Ok((all, true)) => {
            c.execute_batch("COMMIT").map_err(db_err)?;
            Ok(all)
        }
        Ok((all, false)) => {
            c.execute_batch("ROLLBACK").map_err(db_err)?;
            Ok(all)
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// How long erased rows' old pages may stay in the WAL before a checkpoint
/// copies the freed (zeroed) pages back and truncates it.
pub const ERASURE_CHECKPOINT_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

fn checkpoint_after_erasure(c: &Connection) -> bool {
    // A short busy wait: a long reader (export, backup) must not stall every
    // writer behind this checkpoint; when one is in the way, try again later.
    let _ = c.busy_timeout(std::time::Duration::from_millis(50));
    let done = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE);", [], |r| r.get::<_, i64>(0))
        .map(|busy| busy == 0)
        .unwrap_or(false);
    let _ = c.busy_timeout(std::time::Duration::from_secs(10));
    done
}

fn writer_loop(c: Connection, rx: Receiver<Job>, codes: Arc<Codes>, linker: ChainLinker) {
    // The WAL still holds erased rows' old pages (with the wrapped data key)
    // until a checkpoint; it runs within ERASURE_CHECKPOINT_DELAY of the
    // first erasure, not after each one, so erasures do not queue behind it.
    let mut erased_since: Option<std::time::Instant> = None;
    loop {
        let first = match erased_since {
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
            Some(t) => {
                let wait = ERASURE_CHECKPOINT_DELAY.saturating_sub(t.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if checkpoint_after_erasure(&c) {
                            erased_since = None;
                        } else {
                            erased_since = Some(std::time::Instant::now());
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        checkpoint_after_erasure(&c);
                        return;
                    }
                }
            }
        };
        let mut jobs = vec![first];
        let mut n = jobs[0].muts.len();
        while n < GROUP_LIMIT {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.muts.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let erased = jobs
            .iter()
            .any(|j| j.muts.iter().any(|m| matches!(m, Mutation::Erase { .. })));
        match run_group(&c, &jobs, &codes, &linker) {
            Ok(all) => {
                for (job, res) in jobs.into_iter().zip(all) {
                    let _ = job.reply.send(Ok(res));
                }
                if erased && erased_since.is_none() {
                    erased_since = Some(std::time::Instant::now());
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
        if erased_since.is_some_and(|t| t.elapsed() >= ERASURE_CHECKPOINT_DELAY) && checkpoint_after_erasure(&c) {
            erased_since = None;
        }
    }
}

fn read_event(r: &rusqlite::Row<'_>, codes: &Codes) -> Result<ChainedEvent, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit event: bad {what}"));
    let seq: i64 = r.get(0).map_err(db_err)?;
    let action: String = r.get(3).map_err(db_err)?;
    let customer: Option<Vec<u8>> = r.get(4).map_err(db_err)?;
    let fields: rusqlite::types::Value = r.get(5).map_err(db_err)?;
    let purpose: Option<String> = r.get(6).map_err(db_err)?;
    let outcome: String = r.get(7).map_err(db_err)?;
    let prev: Vec<u8> = r.get(9).map_err(db_err)?;
    let mac: Vec<u8> = r.get(10).map_err(db_err)?;
    Ok(ChainedEvent {
        seq: seq as u64,
        event: AuditEvent {
            ts_ms: r.get(1).map_err(db_err)?,
            actor: r.get(2).map_err(db_err)?,
            action: Action::parse(&action).ok_or_else(|| corrupt("action"))?,
            customer: match customer {
                None => None,
                Some(b) => Some(CustomerId::from_bytes(b.try_into().map_err(|_| corrupt("customer"))?)),
            },
            fields: decode_fields(fields, codes)?,
            purpose: match purpose {
                None => None,
                Some(p) => Some(custodia_core::Purpose::new(&p).map_err(|_| corrupt("purpose"))?),
            },
            outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome"))?,
            detail: r.get(8).map_err(db_err)?,
        },
        prev: prev.try_into().map_err(|_| corrupt("prev"))?,
        mac: mac.try_into().map_err(|_| corrupt("mac"))?,
    })
}

impl Store for SqliteStore {
    fn apply(&self, muts: Vec<Mutation>) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        self.submit(muts).wait()
    }

    fn submit(&self, muts: Vec<Mutation>) -> Pending {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if let Some(tx) = self.tx.lock().expect("tx").as_ref() {
            // A failed send drops the reply sender: the waiter sees Closed.
            let _ = tx.send(Job { muts, reply });
        }
        Pending(rx)
    }

    fn get(&self, id: &CustomerId) -> Result<Option<StoredCustomer>, StoreError> {
        Ok(self.select("WHERE id = ?1", [id.as_bytes().to_vec()])?.pop())
    }

    fn find_blind(&self, field: &FieldName, hash: i64) -> Result<Vec<StoredCustomer>, StoreError> {
        let Some(code) = self.codes.by_name.get(field.as_str()) else {
            return Ok(Vec::new());
        };
        self.select(&format!("WHERE bi_{code} = ?1"), params![hash])
    }

    fn scan(&self, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
        self.scan_where("", after, limit)
    }

    fn scan_kek_below(&self, kek: u32, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
        self.scan_where(&format!("AND kek_version < {kek}"), after, limit)
    }

    fn counts(&self, kek: u32) -> Result<(u64, u64), StoreError> {
        self.with_reader(|c| {
            c.query_row(
                "SELECT count(*), coalesce(sum(kek_version < ?1), 0) FROM customers",
                [kek],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(db_err)
        })
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT seq, ts_ms, actor, action, customer, fields, purpose, outcome, detail, prev, mac
                     FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db_err)?;
            let mut rows = st.query(params![from as i64, limit as i64]).map_err(db_err)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(db_err)? {
                out.push(read_event(r, &self.codes)?);
            }
            Ok(out)
        })
    }

    fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError> {
        self.with_reader(|c| read_head(c).map(|h| (h.seq, h.mac)))
    }

    fn account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"))
                .map_err(db_err)?
                .query_row([name], read_account)
                .optional()
                .map_err(db_err)
        })
    }

    fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"))
                .map_err(db_err)?;
            let rows = st.query_map([], read_account).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    fn trainings(&self, account: Option<&str>) -> Result<Vec<TrainingRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT account, course, completed, score, expires, recorded_by FROM training
                     WHERE ?1 IS NULL OR account = ?1 ORDER BY account, completed DESC",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map([account], |r| {
                    Ok(TrainingRecord {
                        account: r.get(0)?,
                        course: r.get(1)?,
                        completed: r.get(2)?,
                        score: r.get(3)?,
                        expires: r.get(4)?,
                        recorded_by: r.get(5)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE digest = ?1"))
                .map_err(db_err)?
                .query_row([digest], read_token)
                .optional()
                .map_err(db_err)
        })
    }

    fn review_items(&self, campaign: &str) -> Result<Vec<ReviewItem>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT campaign, account, role, decision, decided_by, decided_ms, note FROM review_items
                     WHERE campaign = ?1 ORDER BY account, role",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map([campaign], |r| {
                    Ok(ReviewItem {
                        campaign: r.get(0)?,
                        account: r.get(1)?,
                        role: r.get(2)?,
                        decision: r.get(3)?,
                        decided_by: r.get(4)?,
                        decided_ms: r.get(5)?,
                        note: r.get(6)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    fn counter(&self, key: &str) -> Result<Option<crate::CounterRecord>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(crate::access::COUNTER_GET)
                .map_err(db_err)?
                .query_row([key], read_counter)
                .optional()
                .map_err(db_err)
        })
    }

    fn account_link(&self, digest: &[u8]) -> Result<Option<crate::AccountLinkRecord>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(crate::access::LINK_GET)
                .map_err(db_err)?
                .query_row([digest], read_link)
                .optional()
                .map_err(db_err)
        })
    }

    fn approval(&self, id: &str) -> Result<Option<crate::ApprovalRecord>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM approvals WHERE id = $1",
                crate::access::APPROVAL_COLUMNS
            ))
            .map_err(db_err)?
            .query_row([id], read_approval)
            .optional()
            .map_err(db_err)
        })
    }

    fn approvals(&self) -> Result<Vec<crate::ApprovalRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {} FROM approvals ORDER BY requested_ms DESC, id",
                    crate::access::APPROVAL_COLUMNS
                ))
                .map_err(db_err)?;
            let rows = st.query_map([], read_approval).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    fn session(&self, digest: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(
                "SELECT digest, account, mfa_ok, csrf, created_ms, expires_ms, revoked FROM sessions WHERE digest = ?1",
            )
            .map_err(db_err)?
            .query_row([digest], |r| {
                Ok(SessionRecord {
                    digest: r.get(0)?,
                    account: r.get(1)?,
                    mfa_ok: r.get(2)?,
                    csrf: r.get(3)?,
                    created_ms: r.get(4)?,
                    expires_ms: r.get(5)?,
                    revoked: r.get(6)?,
                })
            })
            .optional()
            .map_err(db_err)
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_ms DESC"
                ))
                .map_err(db_err)?;
            let rows = st.query_map([], read_token).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_reader(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(db_err)
        })
    }

    fn notices(&self) -> Result<Vec<NoticeRecord>, StoreError> {
        self.with_reader(privacy::notices)
    }

    fn consents(&self, customer: &CustomerId) -> Result<Vec<ConsentRecord>, StoreError> {
        self.with_reader(|c| privacy::consents(c, customer))
    }

    fn consent_receipt(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        self.with_reader(|c| privacy::consent_receipt(c, id))
    }

    fn consent_tallies(&self) -> Result<Vec<ConsentTally>, StoreError> {
        self.with_reader(privacy::consent_tallies)
    }

    fn portal_token(&self, digest: &[u8]) -> Result<Option<PortalTokenRecord>, StoreError> {
        self.with_reader(|c| privacy::portal_token(c, digest))
    }

    fn requests(&self, customer: &CustomerId) -> Result<Vec<RequestRecord>, StoreError> {
        self.with_reader(|c| rights::requests(c, customer))
    }

    fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.with_reader(|c| rights::request(c, id))
    }

    fn request_by_key(&self, key: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.with_reader(|c| rights::request_by_key(c, key))
    }

    fn open_requests(&self) -> Result<Vec<RequestRecord>, StoreError> {
        self.with_reader(rights::open_requests)
    }

    fn finished_requests_before(&self, before_ms: i64) -> Result<Vec<RequestRecord>, StoreError> {
        self.with_reader(|c| rights::finished_requests_before(c, before_ms))
    }

    fn request_log(&self, id: &str) -> Result<Vec<RequestLogEntry>, StoreError> {
        self.with_reader(|c| rights::request_log(c, id))
    }

    fn request_recipients(&self, id: &str) -> Result<Vec<RecipientNotice>, StoreError> {
        self.with_reader(|c| rights::request_recipients(c, id))
    }

    fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        self.with_reader(rights::tombstones)
    }

    fn certificate(&self, id: &str) -> Result<Option<CertificateRecord>, StoreError> {
        self.with_reader(|c| rights::certificate(c, id))
    }

    fn holds(&self, customer: &CustomerId) -> Result<Vec<HoldRecord>, StoreError> {
        self.with_reader(|c| rights::holds(c, customer))
    }

    fn lifecycle(&self, customer: &CustomerId) -> Result<Option<Lifecycle>, StoreError> {
        self.with_reader(|c| rights::lifecycle(c, customer))
    }

    fn lifecycles(&self) -> Result<Vec<Lifecycle>, StoreError> {
        self.with_reader(rights::lifecycles)
    }

    fn held_customers(&self) -> Result<Vec<CustomerId>, StoreError> {
        self.with_reader(rights::held_customers)
    }

    fn customers_with_consents(&self) -> Result<Vec<CustomerId>, StoreError> {
        self.with_reader(rights::customers_with_consents)
    }

    fn audit_of(&self, customer: &CustomerId, limit: usize) -> Result<Vec<ChainedEvent>, StoreError> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT seq, ts_ms, actor, action, customer, fields, purpose, outcome, detail, prev, mac
                     FROM audit WHERE customer = ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db_err)?;
            let mut rows = st
                .query(params![customer.as_bytes().to_vec(), limit as i64])
                .map_err(db_err)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(db_err)? {
                out.push(read_event(r, &self.codes)?);
            }
            Ok(out)
        })
    }

    fn vault_token(&self, token: &str) -> Result<Option<VaultToken>, StoreError> {
        self.with_reader(|c| rights::vault_token(c, token))
    }

    fn snapshot(&self, dest: &Path) -> Result<u64, StoreError> {
        // One backup step over all pages holds one read transaction: a
        // consistent snapshot, while the writer goes on appending to the WAL.
        let src = open_conn(&self.path, 8 * 1024)?;
        let mut dst = Connection::open(dest).map_err(db_err)?;
        {
            let b = rusqlite::backup::Backup::new(&src, &mut dst).map_err(db_err)?;
            loop {
                match b.step(-1).map_err(db_err)? {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => continue,
                    rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    _ => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        }
        // A single file: no WAL beside it.
        dst.execute_batch("PRAGMA journal_mode = DELETE;").map_err(db_err)?;
        drop(dst);
        std::fs::metadata(dest)
            .map(|m| m.len())
            .map_err(|e| StoreError::Database(format!("snapshot: {e}")))
    }
}

const ACCOUNT_COLUMNS: &str =
    "name, kind, password, roles, mfa_secret, mfa_pending, mfa_last_step, recovery, disabled, created_ms, updated_ms, email, deleted_ms";

/// Insert (refusing an existing name when `create`) or replace an
/// account; false when creation found the name taken.
fn put_account(c: &Connection, a: &AccountRecord, create: bool) -> Result<bool, StoreError> {
    let sql = if create {
        crate::access::ACCOUNT_CREATE
    } else {
        crate::access::ACCOUNT_PUT
    };
    let n = c
        .prepare_cached(sql)
        .map_err(db_err)?
        .execute(params![
            a.name,
            a.kind,
            a.password,
            a.roles.join(","),
            a.mfa_secret,
            a.mfa_pending,
            a.mfa_last_step,
            a.recovery.join(","),
            a.disabled,
            a.created_ms,
            a.updated_ms,
            a.email,
            a.deleted_ms
        ])
        .map_err(db_err)?;
    Ok(n > 0)
}

fn put_account_if(c: &Connection, a: &AccountRecord, expect: i64) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(crate::access::ACCOUNT_PUT_IF)
        .map_err(db_err)?
        .execute(params![
            a.kind,
            a.password,
            a.roles.join(","),
            a.mfa_secret,
            a.mfa_pending,
            a.mfa_last_step,
            a.recovery.join(","),
            a.disabled,
            a.updated_ms,
            a.email,
            a.deleted_ms,
            a.name,
            expect
        ])
        .map_err(db_err)?;
    Ok(n > 0)
}

fn read_counter(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::CounterRecord> {
    Ok(crate::CounterRecord {
        key: r.get(0)?,
        failures: r.get(1)?,
        window_start_ms: r.get(2)?,
        locked_until_ms: r.get(3)?,
    })
}

fn read_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::AccountLinkRecord> {
    Ok(crate::AccountLinkRecord {
        digest: r.get(0)?,
        account: r.get(1)?,
        kind: r.get(2)?,
        created_ms: r.get(3)?,
        expires_ms: r.get(4)?,
        used: r.get(5)?,
        created_by: r.get(6)?,
    })
}

fn read_approval(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::ApprovalRecord> {
    Ok(crate::ApprovalRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        account: r.get(2)?,
        roles: split_list(r.get(3)?),
        requested_by: r.get(4)?,
        requested_ms: r.get(5)?,
        state: r.get(6)?,
        decided_by: r.get(7)?,
        decided_ms: r.get(8)?,
        note: r.get(9)?,
        payload: r.get(10)?,
    })
}

const TOKEN_COLUMNS: &str = "id, account, digest, scopes, expires_ms, revoked, created_ms";

fn read_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        account: r.get(1)?,
        digest: r.get(2)?,
        scopes: split_list(r.get(3)?),
        expires_ms: r.get(4)?,
        revoked: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

fn read_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRecord> {
    Ok(AccountRecord {
        name: r.get(0)?,
        kind: r.get(1)?,
        password: r.get(2)?,
        roles: split_list(r.get(3)?),
        mfa_secret: r.get(4)?,
        mfa_pending: r.get(5)?,
        mfa_last_step: r.get(6)?,
        recovery: split_list(r.get(7)?),
        disabled: r.get(8)?,
        created_ms: r.get(9)?,
        updated_ms: r.get(10)?,
        email: r.get(11)?,
        deleted_ms: r.get(12)?,
    })
}

impl SqliteStore {
    fn scan_where(&self, cond: &str, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
        self.with_reader(|c| {
            let sql = format!(
                "SELECT {} FROM customers WHERE seq > ?1 {cond} ORDER BY seq LIMIT ?2",
                self.codes.sql.select
            );
            let mut st = c.prepare_cached(&sql).map_err(db_err)?;
            let mut rows = st.query(params![after, limit as i64]).map_err(db_err)?;
            let mut out = Vec::new();
            let mut last = after;
            while let Some(r) = rows.next().map_err(db_err)? {
                last = r.get(0).map_err(db_err)?;
                out.push(read_customer(r, &self.codes)?);
            }
            Ok((out, last))
        })
    }

    /// Run SQL against a read connection (diagnostics and tests only).
    pub fn raw_query_i64(&self, sql: &str) -> Result<i64, StoreError> {
        self.with_reader(|c| c.query_row(sql, [], |r| r.get(0)).map_err(db_err))
    }
}
