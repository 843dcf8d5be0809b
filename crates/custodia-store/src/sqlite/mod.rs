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

use crate::{Applied, ChainLinker, Mutation, Pending, Store, StoreError, StoredCustomer};
use custodia_core::audit::{Action, AuditEvent, ChainedEvent, Outcome};
use custodia_core::{CustomerId, FieldName};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
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
    code INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
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
    blind       BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blind_index (
    field INTEGER NOT NULL,
    hash  INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (field, hash, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq      INTEGER PRIMARY KEY,
    ts_ms    INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    customer BLOB,
    fields   TEXT NOT NULL,
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

type Reply = Sender<Result<Vec<Result<Applied, StoreError>>, StoreError>>;

struct Job {
    muts: Vec<Mutation>,
    reply: Reply,
}

/// Field name ↔ small integer code used inside blind-index keys.
#[derive(Debug, Default)]
struct Codes {
    by_name: HashMap<String, i64>,
    by_code: HashMap<i64, FieldName>,
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
         PRAGMA cache_size = -{cache_kib};"
    ))
    .map_err(db_err)?;
    Ok(c)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`. `fields` lists the
    /// searchable fields whose blind entries this store will hold; `linker`
    /// computes audit chain MACs.
    pub fn open(path: &Path, fields: &[FieldName], linker: ChainLinker) -> Result<SqliteStore, StoreError> {
        let w = open_conn(path, 64 * 1024)?;
        w.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        let setup = (|| -> Result<Codes, StoreError> {
            w.execute_batch(SCHEMA_SQL).map_err(db_err)?;
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
                        return Err(StoreError::Layout { found, known: LAYOUT_VERSION });
                    }
                }
            }
            for f in fields {
                w.execute("INSERT OR IGNORE INTO field_codes (name) VALUES (?1)", [f.as_str()])
                    .map_err(db_err)?;
            }
            let mut codes = Codes::default();
            let mut st = w.prepare("SELECT code, name FROM field_codes").map_err(db_err)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            for row in rows {
                let (code, name) = row.map_err(db_err)?;
                let fname = FieldName::new(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                codes.by_name.insert(name, code);
                codes.by_code.insert(code, fname);
            }
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
            let sql = format!("SELECT {COLUMNS} FROM customers {sql_tail}");
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

const COLUMNS: &str =
    "seq, id, external_id, version, kek_version, dk_version, wrapped_dk, sealed, attrs, blind, created_ms, updated_ms";

fn read_customer(r: &rusqlite::Row<'_>, codes: &Codes) -> Result<StoredCustomer, StoreError> {
    let id: Vec<u8> = r.get(1).map_err(db_err)?;
    let id: [u8; 16] = id
        .try_into()
        .map_err(|_| StoreError::Corrupt("customer id is not 16 bytes".into()))?;
    let blind: Vec<u8> = r.get(9).map_err(db_err)?;
    Ok(StoredCustomer {
        id: CustomerId::from_bytes(id),
        external_id: r.get(2).map_err(db_err)?,
        version: r.get(3).map_err(db_err)?,
        kek_version: r.get(4).map_err(db_err)?,
        dk_version: r.get(5).map_err(db_err)?,
        wrapped_dk: r.get(6).map_err(db_err)?,
        sealed: r.get(7).map_err(db_err)?,
        attrs: r.get(8).map_err(db_err)?,
        blind: decode_blind(&blind, codes)?,
        created_ms: r.get(10).map_err(db_err)?,
        updated_ms: r.get(11).map_err(db_err)?,
    })
}

fn encode_blind(entries: &[(FieldName, i64)], codes: &Codes) -> Result<(Vec<u8>, Vec<(i64, i64)>), StoreError> {
    let mut out = Vec::with_capacity(entries.len() * 10);
    let mut coded = Vec::with_capacity(entries.len());
    for (f, h) in entries {
        let code = *codes
            .by_name
            .get(f.as_str())
            .ok_or_else(|| StoreError::Database(format!("field {f} is not registered as searchable")))?;
        out.extend_from_slice(&(code as u16).to_be_bytes());
        out.extend_from_slice(&h.to_be_bytes());
        coded.push((code, *h));
    }
    Ok((out, coded))
}

fn decode_blind(b: &[u8], codes: &Codes) -> Result<Vec<(FieldName, i64)>, StoreError> {
    if b.len() % 10 != 0 {
        return Err(StoreError::Corrupt("blind entry list has a bad length".into()));
    }
    b.chunks_exact(10)
        .map(|c| {
            let code = u16::from_be_bytes([c[0], c[1]]) as i64;
            let h = i64::from_be_bytes(c[2..10].try_into().expect("8 bytes"));
            let f = codes
                .by_code
                .get(&code)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown field code {code}")))?;
            Ok((f.clone(), h))
        })
        .collect()
}

fn blind_codes(b: &[u8]) -> Vec<(i64, i64)> {
    b.chunks_exact(10)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]) as i64,
                i64::from_be_bytes(c[2..10].try_into().expect("8 bytes")),
            )
        })
        .collect()
}

struct Head {
    seq: u64,
    mac: [u8; 32],
}

fn read_head(c: &Connection) -> Result<Head, StoreError> {
    let row: Option<(i64, Vec<u8>)> = c
        .query_row("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
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

fn append_events(c: &Connection, head: &mut Head, events: &[AuditEvent], linker: &ChainLinker) -> Result<(), StoreError> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO audit (seq, ts_ms, actor, action, customer, fields, purpose, outcome, detail, prev, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(db_err)?;
    for e in events {
        let seq = head.seq + 1;
        let mac = linker(&head.mac, &e.canonical_bytes(seq));
        let fields = e.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",");
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

fn apply_one(c: &Connection, m: &Mutation, head: &mut Head, codes: &Codes, linker: &ChainLinker) -> Result<Applied, StoreError> {
    match m {
        Mutation::Insert { customer: cu, events } => {
            if let Some(ext) = &cu.external_id {
                let existing: Option<Vec<u8>> = c
                    .prepare_cached("SELECT id FROM customers WHERE external_id = ?1")
                    .map_err(db_err)?
                    .query_row([ext], |r| r.get(0))
                    .optional()
                    .map_err(db_err)?;
                if let Some(id) = existing {
                    let id: [u8; 16] = id
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("customer id is not 16 bytes".into()))?;
                    return Ok(Applied::ExternalIdExists(CustomerId::from_bytes(id)));
                }
            }
            let (blind, coded) = encode_blind(&cu.blind, codes)?;
            c.prepare_cached(
                "INSERT INTO customers (id, external_id, version, kek_version, dk_version, wrapped_dk, sealed, attrs, blind, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(db_err)?
            .execute(params![
                cu.id.as_bytes().to_vec(),
                cu.external_id,
                cu.version,
                cu.kek_version,
                cu.dk_version,
                cu.wrapped_dk,
                cu.sealed,
                cu.attrs,
                blind,
                cu.created_ms,
                cu.updated_ms
            ])
            .map_err(db_err)?;
            let seq = c.last_insert_rowid();
            let mut st = c
                .prepare_cached("INSERT INTO blind_index (field, hash, seq) VALUES (?1, ?2, ?3)")
                .map_err(db_err)?;
            for (code, h) in coded {
                st.execute(params![code, h, seq]).map_err(db_err)?;
            }
            append_events(c, head, events, linker)?;
            Ok(Applied::Done)
        }
        Mutation::Update { customer: cu, events } => {
            let row: Option<(i64, i64, Vec<u8>)> = c
                .prepare_cached("SELECT seq, version, blind FROM customers WHERE id = ?1")
                .map_err(db_err)?
                .query_row([cu.id.as_bytes().to_vec()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .map_err(db_err)?;
            let Some((seq, version, old_blind)) = row else {
                return Ok(Applied::NotFound);
            };
            if version != cu.version {
                return Ok(Applied::VersionConflict(version));
            }
            let (blind, coded) = encode_blind(&cu.blind, codes)?;
            let mut del = c
                .prepare_cached("DELETE FROM blind_index WHERE field = ?1 AND hash = ?2 AND seq = ?3")
                .map_err(db_err)?;
            for (code, h) in blind_codes(&old_blind) {
                del.execute(params![code, h, seq]).map_err(db_err)?;
            }
            let mut ins = c
                .prepare_cached("INSERT OR IGNORE INTO blind_index (field, hash, seq) VALUES (?1, ?2, ?3)")
                .map_err(db_err)?;
            for (code, h) in coded {
                ins.execute(params![code, h, seq]).map_err(db_err)?;
            }
            c.prepare_cached(
                "UPDATE customers SET version = version + 1, dk_version = ?2, sealed = ?3, attrs = ?4, blind = ?5, updated_ms = ?6
                 WHERE seq = ?1",
            )
            .map_err(db_err)?
            .execute(params![seq, cu.dk_version, cu.sealed, cu.attrs, blind, cu.updated_ms])
            .map_err(db_err)?;
            append_events(c, head, events, linker)?;
            Ok(Applied::Done)
        }
        Mutation::Delete { id, events } => {
            let row: Option<(i64, Vec<u8>)> = c
                .prepare_cached("SELECT seq, blind FROM customers WHERE id = ?1")
                .map_err(db_err)?
                .query_row([id.as_bytes().to_vec()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db_err)?;
            let Some((seq, blind)) = row else {
                return Ok(Applied::NotFound);
            };
            let mut del = c
                .prepare_cached("DELETE FROM blind_index WHERE field = ?1 AND hash = ?2 AND seq = ?3")
                .map_err(db_err)?;
            for (code, h) in blind_codes(&blind) {
                del.execute(params![code, h, seq]).map_err(db_err)?;
            }
            c.prepare_cached("DELETE FROM customers WHERE seq = ?1")
                .map_err(db_err)?
                .execute([seq])
                .map_err(db_err)?;
            append_events(c, head, events, linker)?;
            Ok(Applied::Done)
        }
        Mutation::Rewrap { id, from_kek, to_kek, wrapped_dk } => {
            let n = c
                .prepare_cached("UPDATE customers SET kek_version = ?3, wrapped_dk = ?4 WHERE id = ?1 AND kek_version = ?2")
                .map_err(db_err)?
                .execute(params![id.as_bytes().to_vec(), from_kek, to_kek, wrapped_dk])
                .map_err(db_err)?;
            Ok(if n == 1 { Applied::Done } else { Applied::AlreadyRewrapped })
        }
        Mutation::Audit(events) => {
            append_events(c, head, events, linker)?;
            Ok(Applied::Done)
        }
        Mutation::SetMeta { key, value } => {
            c.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .map_err(db_err)?
                .execute(params![key, value])
                .map_err(db_err)?;
            Ok(Applied::Done)
        }
    }
}

fn run_group(c: &Connection, jobs: &[Job], codes: &Codes, linker: &ChainLinker) -> Result<Vec<Vec<Result<Applied, StoreError>>>, StoreError> {
    c.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
    let body = (|| {
        let mut head = read_head(c)?;
        let mut all = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut results = Vec::with_capacity(job.muts.len());
            for m in &job.muts {
                c.execute_batch("SAVEPOINT m").map_err(db_err)?;
                let saved = Head { seq: head.seq, mac: head.mac };
                match apply_one(c, m, &mut head, codes, linker) {
                    Ok(a) => {
                        c.execute_batch("RELEASE m").map_err(db_err)?;
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
        Ok(all)
    })();
    match body {
        Ok(all) => {
            c.execute_batch("COMMIT").map_err(db_err)?;
            Ok(all)
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn writer_loop(c: Connection, rx: Receiver<Job>, codes: Arc<Codes>, linker: ChainLinker) {
    while let Ok(first) = rx.recv() {
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
        match run_group(&c, &jobs, &codes, &linker) {
            Ok(all) => {
                for (job, res) in jobs.into_iter().zip(all) {
                    let _ = job.reply.send(Ok(res));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn read_event(r: &rusqlite::Row<'_>) -> Result<ChainedEvent, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit event: bad {what}"));
    let seq: i64 = r.get(0).map_err(db_err)?;
    let action: String = r.get(3).map_err(db_err)?;
    let customer: Option<Vec<u8>> = r.get(4).map_err(db_err)?;
    let fields: String = r.get(5).map_err(db_err)?;
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
            fields: if fields.is_empty() {
                Vec::new()
            } else {
                fields
                    .split(',')
                    .map(FieldName::new)
                    .collect::<Result<_, _>>()
                    .map_err(|_| corrupt("field list"))?
            },
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
        let (reply, rx) = mpsc::channel();
        let sent = match self.tx.lock().expect("tx").as_ref() {
            Some(tx) => tx.send(Job { muts, reply }).is_ok(),
            None => false,
        };
        if !sent {
            let (t, r) = mpsc::channel();
            let _ = t.send(Err(StoreError::Closed));
            return Pending(r);
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
        self.select(
            "WHERE seq IN (SELECT seq FROM blind_index WHERE field = ?1 AND hash = ?2)",
            params![code, hash],
        )
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
                out.push(read_event(r)?);
            }
            Ok(out)
        })
    }

    fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError> {
        self.with_reader(|c| read_head(c).map(|h| (h.seq, h.mac)))
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_reader(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(db_err)
        })
    }
}

impl SqliteStore {
    fn scan_where(&self, cond: &str, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
        self.with_reader(|c| {
            let sql = format!("SELECT {COLUMNS} FROM customers WHERE seq > ?1 {cond} ORDER BY seq LIMIT ?2");
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

#[cfg(test)]
mod tests;
