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
//!
//! Every statement but the audit chain's comes from the shared body (see
//! [`crate::sql`]); this module runs it on SQLite.

mod schema;

use crate::codes::{Codes, FieldCodes};
use crate::sql::{Arg, Db, Row, Sql, Value};
use crate::{Applied, ChainLinker, Mutation, Pending, Store, StoreError};
use custodia_core::audit::{Action, AuditEvent, ChainedEvent, Outcome};
use custodia_core::{CustomerId, FieldName};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

pub const LAYOUT_VERSION: i64 = crate::schema::LAYOUT_VERSION;

/// Most mutations committed in one transaction.
const GROUP_LIMIT: usize = 4096;

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
            w.execute_batch(&crate::schema::for_sqlite(crate::schema::TABLES))
                .map_err(db_err)?;
            w.execute_batch(schema::AUDIT).map_err(db_err)?;
            w.execute_batch(crate::audit_search::INDEXES).map_err(db_err)?;
            for (table, col, ty) in crate::access::ADDED_COLUMNS {
                let has: bool = w
                    .prepare_cached("SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2")
                    .map_err(db_err)?
                    .query_row([table, col], |r| r.get(0))
                    .map_err(db_err)?;
                if !has {
                    w.execute_batch(&crate::schema::for_sqlite(&format!(
                        "ALTER TABLE {table} ADD COLUMN {col} {ty};"
                    )))
                    .map_err(db_err)?;
                }
            }
            crate::schema::check_layout(&mut Lite(&w))?;
            let (list, all) = crate::schema::register_fields(&mut Lite(&w), fields)?;
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
            crate::customers::end_bulk_load(&mut Lite(&w), &list)?;
            let codes = Codes::build(list, all);
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
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// A SQLite connection speaking the shared dialect of [`crate::sql`].
pub(crate) struct Lite<'c>(pub(crate) &'c Connection);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Bool(b) => ValueRef::Integer(i64::from(b)),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

/// Bind `args` to the statement's `$N` parameters by number.
fn bind(st: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> Result<(), StoreError> {
    let count = st.parameter_count();
    // Names first (they borrow the statement), then the values.
    let mut slots = [0usize; 64];
    if count > slots.len() {
        return Err(StoreError::Database(format!("a statement with {count} parameters")));
    }
    crate::sql::bind_by_number((1..=count).map(|i| st.parameter_name(i)), args.len(), |i, k| {
        slots[i - 1] = k;
        Ok(())
    })?;
    for (i, k) in slots[..count].iter().enumerate() {
        st.raw_bind_parameter(i + 1, args[*k]).map_err(db_err)?;
    }
    Ok(())
}

fn value(v: rusqlite::types::ValueRef<'_>) -> Result<Value, StoreError> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec()).map_err(|_| StoreError::Corrupt("a text column is not UTF-8".into()))?,
        ),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        ValueRef::Real(_) => return Err(StoreError::Corrupt("a column holds a floating-point number".into())),
    })
}

impl Sql for Lite<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut st = self.0.prepare_cached(sql).map_err(db_err)?;
        bind(&mut st, args)?;
        st.raw_execute().map(|n| n as u64).map_err(db_err)
    }

    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&mut Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut st = self.0.prepare_cached(sql).map_err(db_err)?;
        bind(&mut st, args)?;
        let n = st.column_count();
        let names: Arc<str> = st.column_names().join(",").into();
        let mut row = Row::new(names, Vec::with_capacity(n));
        let mut rows = st.raw_query();
        while let Some(r) = rows.next().map_err(db_err)? {
            let values = row.values_mut();
            values.clear();
            for i in 0..n {
                values.push(value(r.get_ref(i).map_err(db_err)?)?);
            }
            f(&mut row)?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(db_err)
    }
}

struct Head {
    seq: u64,
    mac: [u8; 32],
    /// The last event's time: the log's clock never runs backwards.
    ts_ms: i64,
}

fn read_head(c: &Connection) -> Result<Head, StoreError> {
    let row: Option<(i64, Vec<u8>, i64)> = c
        .prepare_cached("SELECT seq, mac, ts_ms FROM audit ORDER BY seq DESC LIMIT 1")
        .map_err(db_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db_err)?;
    match row {
        None => Ok(Head {
            seq: 0,
            mac: [0; 32],
            ts_ms: i64::MIN,
        }),
        Some((seq, mac, ts_ms)) => Ok(Head {
            seq: seq as u64,
            ts_ms,
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
        let stamped;
        let e = if e.ts_ms < head.ts_ms {
            stamped = AuditEvent {
                ts_ms: head.ts_ms,
                ..e.clone()
            };
            &stamped
        } else {
            e
        };
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
        head.ts_ms = e.ts_ms;
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
    let applied = crate::write::apply(&mut Lite(c), codes, m)?;
    if applied.appends_events() {
        append_events(c, head, m.events(), codes, linker)?;
    }
    Ok(applied)
}

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
                    ts_ms: head.ts_ms,
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

const LITE_EVENT_COLUMNS: &str = "seq, ts_ms, actor, action, customer, fields, purpose, outcome, detail, prev, mac";

impl crate::audit_search::Reader for SqliteStore {
    fn seq_at(&self, sql: &str, ts_ms: i64) -> Result<Option<u64>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached(sql)
                .map_err(db_err)?
                .query_row([ts_ms], |r| r.get::<_, i64>(0))
                .optional()
                .map(|s| s.map(|s| s as u64))
                .map_err(db_err)
        })
    }

    fn events(&self, sql: &str, params: &[crate::audit_search::Param]) -> Result<Vec<ChainedEvent>, StoreError> {
        use crate::audit_search::Param;
        self.with_reader(|c| {
            let mut st = c.prepare_cached(sql).map_err(db_err)?;
            for (i, p) in params.iter().enumerate() {
                match p {
                    Param::Int(v) => st.raw_bind_parameter(i + 1, v),
                    Param::Text(v) => st.raw_bind_parameter(i + 1, v),
                    Param::Bytes(v) => st.raw_bind_parameter(i + 1, v),
                }
                .map_err(db_err)?;
            }
            let mut rows = st.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(db_err)? {
                out.push(read_event(r, &self.codes)?);
            }
            Ok(out)
        })
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

    fn read(&self, f: &mut dyn FnMut(&mut Db<'_>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.with_reader(|c| {
            f(&mut Db {
                sql: &mut Lite(c),
                codes: &self.codes,
            })
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

    fn audit_search(
        &self,
        filter: &custodia_core::audit::AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<crate::audit_search::AuditPage, StoreError> {
        let (head, _) = self.audit_head()?;
        crate::audit_search::search(self, LITE_EVENT_COLUMNS, head, filter, before, limit)
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

impl SqliteStore {
    /// Run SQL against a read connection (diagnostics and tests only).
    pub fn raw_query_i64(&self, sql: &str) -> Result<i64, StoreError> {
        self.with_reader(|c| c.query_row(sql, [], |r| r.get(0)).map_err(db_err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_holding_a_customer_is_cleared_or_kept_on_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path, &[], Arc::new(|_: &[u8; 32], _: &[u8]| [0u8; 32])).unwrap();
        store.close();
        let c = Connection::open(&path).unwrap();
        let tables: Vec<String> = c
            .prepare(
                "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND p.name = 'customer' ORDER BY m.name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.len() >= 8, "{tables:?}");
        for t in &tables {
            let cleared = crate::rights::ERASURE_CASCADE
                .iter()
                .any(|sql| sql.contains(&format!(" {t} ")));
            let kept = crate::rights::KEPT_AFTER_ERASURE.iter().any(|(k, _)| k == t);
            assert!(
                cleared || kept,
                "table {t} holds customers: erasure must clear it (ERASURE_CASCADE) or say why it keeps it"
            );
        }
    }

    #[test]
    fn a_stored_kind_this_build_does_not_know_is_an_error_naming_it() {
        use crate::AccessStore;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path, &[], Arc::new(|_: &[u8; 32], _: &[u8]| [0u8; 32])).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO accounts (name, kind, roles, recovery, disabled, created_ms, updated_ms)
             VALUES ('x', 'robot', '', '', 0, 1, 1)",
            [],
        )
        .unwrap();
        let e = store.account("x").unwrap_err().to_string();
        assert!(e.contains("column kind") && e.contains("robot"), "{e}");
        assert!(store.accounts().is_err(), "a listing does not skip the row either");
    }
}
