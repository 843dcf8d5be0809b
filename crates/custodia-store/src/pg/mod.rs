//! The scale-out store: one PostgreSQL database shared by any number of
//! `custodia serve` processes.
//!
//! * Writes go through one writer thread per process that commits whatever
//!   has queued up in one transaction (group commit), acknowledged after
//!   PostgreSQL's commit (`synchronous_commit` as the server is set; `on` is
//!   the default and what Custodia's durability promise assumes).
//! * Every write transaction first takes one advisory lock
//!   ([`CHAIN_LOCK`]), then reads the audit head. The lock orders the write
//!   transactions of all processes, so the audit log stays one unbroken
//!   chain, sequence numbers commit in order (cursors over `seq` never skip
//!   a row), and no two writers can deadlock (the lock is always the first
//!   one taken).
//! * Concurrent updates of one customer are optimistic: an update applies
//!   only `WHERE version = expected`; under READ COMMITTED the second of two
//!   racing updates waits for the first, re-reads the row, finds a newer
//!   version and reports [`Applied::VersionConflict`]. No update is lost.
//! * Reads use a small pool of connections and take no locks.
//! * A connection that fails with a connection-class error is dropped; the
//!   next call reconnects (with a short connect timeout), so a database that
//!   goes away makes calls fail fast with [`StoreError::Unavailable`] and a
//!   database that comes back is used again without a restart.

mod dialect;
mod pool;
mod read;
mod schema;
mod target;
mod write;

pub(crate) use target::Target;

use crate::codes::{Codes, FieldCodes};
use crate::sql::Db;
use crate::{Applied, ChainLinker, Mutation, Pending, Store, StoreError};
use custodia_core::audit::{Action, AuditEvent, ChainedEvent, Outcome};
use custodia_core::{CustomerId, FieldName};
use postgres::types::{FromSql, ToSql};
use postgres::{Client, Row, Statement};
use read::ReadConn;
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The table layout this build writes (see `schema.rs`).
pub const LAYOUT_VERSION: i64 = crate::schema::LAYOUT_VERSION;

/// Advisory lock key every write transaction takes first ("custodia" in ASCII).
pub const CHAIN_LOCK: i64 = 0x6375_7374_6f64_6961;
/// Advisory lock key of migrations.
const SETUP_LOCK: i64 = CHAIN_LOCK + 1;

/// Most mutations committed in one transaction.
const GROUP_LIMIT: usize = 4096;

/// How long the writer's connection may sit idle before it is checked.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Most read connections per process.
const POOL_MAX: usize = 16;

pub(crate) fn pg_err(e: postgres::Error) -> StoreError {
    // Connection exceptions (08), operator intervention (57: shutdown,
    // cannot connect now), insufficient resources (53) and closed sockets
    // are the database being away, not a wrong statement.
    let away = e.is_closed()
        || e.code().is_some_and(|c| {
            let s = c.code();
            s.starts_with("08") || s.starts_with("57") || s.starts_with("53")
        })
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        || e.to_string().contains("error connecting");
    // The client's message leaves the cause (refused, timed out, …) to its source.
    let mut msg = format!("PostgreSQL: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    if away {
        StoreError::Unavailable(msg)
    } else {
        StoreError::Database(msg)
    }
}

/// Run blocking database work from any thread. The synchronous client
/// drives its socket with a runtime of its own, which may not start on a
/// thread that is already driving async tasks: on a multi-threaded runtime
/// the work moves off the async worker (`block_in_place`), on a
/// current-thread runtime it runs on a short-lived thread.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| s.spawn(f).join().expect("database thread panicked")),
    }
}

/// Running statements that return rows, on either kind of connection.
pub(crate) trait Query {
    /// Every row.
    fn rows(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError>;
    /// At most one row.
    fn row(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError>;
}

impl Query for Conn {
    fn rows(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        Conn::rows(self, sql, p)
    }
    fn row(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        Conn::row(self, sql, p)
    }
}

/// A connection with its prepared statements (the writer's, migrations').
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Conn {
        Conn {
            client,
            statements: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(pg_err)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(crate) fn exec(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let st = self.statement(sql)?;
        self.client.execute(&st, p).map_err(pg_err)
    }

    pub(crate) fn rows(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let st = self.statement(sql)?;
        self.client.query(&st, p).map_err(pg_err)
    }

    pub(crate) fn row(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        let st = self.statement(sql)?;
        self.client.query_opt(&st, p).map_err(pg_err)
    }

    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(pg_err)
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Codes {
    /// Audit field lists: `fields` (codes) or `field_names` (text).
    pub(crate) fn audit_columns(&self, fields: &[FieldName]) -> (Option<Vec<u8>>, Option<String>) {
        match self.encode(fields) {
            Ok(b) => (Some(b), None),
            Err(names) => (None, Some(names)),
        }
    }

    fn read_audit_columns(&self, coded: Option<Vec<u8>>, names: Option<String>) -> Result<Vec<FieldName>, StoreError> {
        match (coded, names) {
            (Some(b), _) => self.decode_coded(&b),
            (None, Some(t)) => FieldCodes::decode_names(&t),
            (None, None) => Err(StoreError::Corrupt("audit event: no field list".into())),
        }
    }
}

type Reply = tokio::sync::oneshot::Sender<crate::Outcomes>;

struct Job {
    muts: Vec<Mutation>,
    reply: Reply,
}

/// The PostgreSQL implementation of [`Store`].
pub struct PgStore {
    label: String,
    target: Target,
    tx: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: pool::Pool,
    codes: Arc<Codes>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgStore({})", self.label)
    }
}

/// `base` with `search_path` set to `schema`, which the store creates at
/// open: several vaults (or test runs) can share one database, each in a
/// schema of its own.
pub fn url_with_schema(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

/// A storage URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some(at) = url.find("password=") {
        // key=value form (or a URL query parameter): drop the value.
        let rest = &url[at + 9..];
        let end = rest.find([' ', '&']).unwrap_or(rest.len());
        return format!("{}password=***{}", &url[..at], &rest[end..]);
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Check a storage URL: it parses, and with `sslmode=require` its
/// `sslrootcert` loads.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    Target::parse(url).map(|_| ())
}

impl PgStore {
    /// Connect to the database at `url` (migrating it to this build's
    /// layout). `fields` lists the schema's fields, each with whether it is
    /// searchable; `linker` computes audit chain MACs.
    pub fn open(url: &str, fields: &[(FieldName, bool)], linker: ChainLinker) -> Result<PgStore, StoreError> {
        let target = Target::parse(url)?;
        let (w, codes) = blocking(|| -> Result<(Conn, Codes), StoreError> {
            let mut w = target.conn()?;
            let codes = setup(&mut w, fields)?;
            Ok((w, codes))
        })?;
        let codes = Arc::new(codes);
        let (tx, rx) = mpsc::channel::<Job>();
        let (wcodes, wtarget) = (codes.clone(), target.clone());
        let handle = std::thread::Builder::new()
            .name("custodia-pg-writer".into())
            .spawn(move || writer_loop(Some(w), wtarget, rx, wcodes, linker))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(PgStore {
            label: redact_url(url),
            target,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: pool::Pool::new(POOL_MAX),
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

    fn with_reader<T>(&self, mut f: impl FnMut(&mut ReadConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        {
            let (mut conn, reused) = self.readers.take(&self.target)?;
            let mut out = f(&mut conn);
            if matches!(out, Err(StoreError::Unavailable(_))) {
                // The server went away since this connection was last used
                // (or restarted): idle connections are all dead. Reads are
                // idempotent, so one retry on a new connection is safe.
                self.readers.give(conn, true);
                self.readers.clear();
                if !reused {
                    return out;
                }
                let (again, _) = self.readers.take(&self.target)?;
                conn = again;
                out = f(&mut conn);
            }
            let broken = matches!(out, Err(StoreError::Unavailable(_)));
            self.readers.give(conn, broken);
            out
        }
    }

    /// Run SQL returning one integer on a read connection (diagnostics and tests).
    pub fn raw_query_i64(&self, sql: &str) -> Result<i64, StoreError> {
        self.with_reader(|c| {
            let r = c.row(sql, &[])?.ok_or_else(|| StoreError::Database("no row".into()))?;
            get(&r, 0)
        })
    }

    /// Run SQL statements on a fresh connection (administration and tests).
    pub fn raw_batch(&self, sql: &str) -> Result<(), StoreError> {
        blocking(|| self.target.conn()?.batch(sql))
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Create the tables (once), check the layout, register field codes and
/// blind-index columns, all under the setup lock.
pub(crate) fn setup(w: &mut Conn, fields: &[(FieldName, bool)]) -> Result<Codes, StoreError> {
    ensure_schema(w)?;
    w.batch("BEGIN")?;
    match setup_in_transaction(w, fields) {
        Ok(codes) => {
            w.batch("COMMIT")?;
            Ok(codes)
        }
        Err(e) => {
            let _ = w.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// A search_path naming a schema of its own (`options=-c search_path=x`
/// in the URL) gets that schema created: several vaults can share one
/// database, each in its schema.
pub(crate) fn ensure_schema(w: &mut Conn) -> Result<(), StoreError> {
    let sp: String = get(
        &w.row("SHOW search_path", &[])?.ok_or_else(|| no_row("search_path"))?,
        0,
    )?;
    if let Some(first) = sp.split(',').map(str::trim).next() {
        if !first.is_empty() && first != "\"$user\"" && first != "public" {
            let ident = if first.starts_with('"') {
                first.to_owned()
            } else {
                format!("\"{}\"", first.replace('"', "\"\""))
            };
            w.batch(&format!("CREATE SCHEMA IF NOT EXISTS {ident}"))?;
        }
    }
    Ok(())
}

/// Migrations, layout check, field codes and blind-index columns, inside
/// the caller's transaction and under the setup lock.
pub(crate) fn setup_in_transaction(w: &mut Conn, fields: &[(FieldName, bool)]) -> Result<Codes, StoreError> {
    w.exec("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])?;
    w.batch(crate::schema::TABLES)?;
    w.batch(schema::AUDIT)?;
    w.batch(crate::audit_search::INDEXES)?;
    for (table, col, ty) in crate::access::ADDED_COLUMNS {
        w.batch(&format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col} {ty}"))?;
    }
    crate::schema::check_layout(w)?;
    let (list, all) = crate::schema::register_fields(w, fields)?;
    let existing: Vec<String> = w
        .rows(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'customers'",
            &[],
        )?
        .iter()
        .map(|r| get(r, 0))
        .collect::<Result<_, _>>()?;
    for (code, _) in &list {
        if !existing.iter().any(|c| c == &format!("bi_{code}")) {
            w.batch(&format!("ALTER TABLE customers ADD COLUMN bi_{code} bigint"))?;
        }
    }
    // Also rebuilds indexes a bulk load dropped before a crash.
    crate::customers::end_bulk_load(w, &list)?;
    Ok(Codes::build(list, all))
}

fn no_row(what: &str) -> StoreError {
    StoreError::Database(format!("PostgreSQL returned no row for {what}"))
}

/// One column of a row, with a type mismatch reported as corruption.
pub(crate) fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> Result<T, StoreError> {
    r.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

pub(crate) fn customer_id(b: Vec<u8>) -> Result<CustomerId, StoreError> {
    let a: [u8; 16] = b
        .try_into()
        .map_err(|_| StoreError::Corrupt("customer id is not 16 bytes".into()))?;
    Ok(CustomerId::from_bytes(a))
}

fn opt_customer_id(b: Option<Vec<u8>>) -> Result<Option<CustomerId>, StoreError> {
    b.map(customer_id).transpose()
}

const EVENT_COLUMNS: &str =
    "seq, ts_ms, actor, action, customer, fields, field_names, purpose, outcome, detail, prev, mac";

impl crate::audit_search::Reader for PgStore {
    fn seq_at(&self, sql: &str, ts_ms: i64) -> Result<Option<u64>, StoreError> {
        let found = self.many(sql, &[&ts_ms], |r| get::<i64>(r, 0))?;
        Ok(found.first().map(|s| *s as u64))
    }

    fn events(&self, sql: &str, params: &[crate::audit_search::Param]) -> Result<Vec<ChainedEvent>, StoreError> {
        use crate::audit_search::Param;
        let bound: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| match p {
                Param::Int(v) => v as &(dyn ToSql + Sync),
                Param::Text(v) => v as &(dyn ToSql + Sync),
                Param::Bytes(v) => v as &(dyn ToSql + Sync),
            })
            .collect();
        self.many(sql, &bound, |r| read_event(r, &self.codes))
    }
}

fn read_event(r: &Row, codes: &Codes) -> Result<ChainedEvent, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit event: bad {what}"));
    let seq: i64 = get(r, 0)?;
    let action: String = get(r, 3)?;
    let purpose: Option<String> = get(r, 7)?;
    let outcome: String = get(r, 8)?;
    let prev: Vec<u8> = get(r, 10)?;
    let mac: Vec<u8> = get(r, 11)?;
    Ok(ChainedEvent {
        seq: seq as u64,
        event: AuditEvent {
            ts_ms: get(r, 1)?,
            actor: get(r, 2)?,
            action: Action::parse(&action).ok_or_else(|| corrupt("action"))?,
            customer: opt_customer_id(get(r, 4)?).map_err(|_| corrupt("customer"))?,
            fields: codes.read_audit_columns(get(r, 5)?, get(r, 6)?)?,
            purpose: match purpose {
                None => None,
                Some(p) => Some(custodia_core::Purpose::new(&p).map_err(|_| corrupt("purpose"))?),
            },
            outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome"))?,
            detail: get(r, 9)?,
        },
        prev: prev.try_into().map_err(|_| corrupt("prev"))?,
        mac: mac.try_into().map_err(|_| corrupt("mac"))?,
    })
}

/// The writer: group commit, reconnecting after the database went away.
fn writer_loop(mut conn: Option<Conn>, target: Target, rx: Receiver<Job>, codes: Arc<Codes>, linker: ChainLinker) {
    let janitor = Janitor::start(target.clone());
    let mut idle_since = std::time::Instant::now();
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
        // A connection idle for a while may have lost its server (a restart
        // or failover): check it before trusting it with a group, since a
        // group that fails half-way through a commit cannot be retried.
        if idle_since.elapsed() > IDLE_CHECK {
            if let Some(c) = conn.as_mut() {
                if c.batch("SELECT 1").is_err() {
                    conn = None;
                }
            }
        }
        if conn.as_ref().is_none_or(Conn::is_closed) {
            conn = match target.conn() {
                Ok(c) => Some(c),
                Err(e) => {
                    for job in jobs {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                    continue;
                }
            };
        }
        let c = conn.as_mut().expect("connected above");
        let erased = jobs
            .iter()
            .any(|j| j.muts.iter().any(|m| matches!(m, Mutation::Erase { .. })));
        let result = write::run_group(c, &jobs, &codes, &linker);
        idle_since = std::time::Instant::now();
        match result {
            Ok(all) => {
                for (job, res) in jobs.into_iter().zip(all) {
                    let _ = job.reply.send(Ok(res));
                }
                if erased {
                    janitor.poke();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write transaction failed");
                if matches!(e, StoreError::Unavailable(_)) || c.is_closed() {
                    conn = None;
                }
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// How soon after an erasure the tables that held the erased rows are
/// vacuumed, so the dead row versions (with the wrapped data key) leave the
/// heap pages instead of waiting for autovacuum.
pub const ERASURE_VACUUM_DELAY: Duration = Duration::from_millis(500);

/// Vacuums after erasures on a connection of its own, off the writer's path.
struct Janitor(Option<Sender<()>>);

impl Janitor {
    fn start(target: Target) -> Janitor {
        let (tx, rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("custodia-pg-vacuum".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    std::thread::sleep(ERASURE_VACUUM_DELAY);
                    while rx.try_recv().is_ok() {}
                    let done = target.conn().and_then(|mut c| {
                        c.batch("VACUUM customers, vault_tokens, portal_tokens, requests, lifecycle")
                    });
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "vacuum after erasure failed (autovacuum will do it later)");
                    }
                }
            });
        Janitor(spawned.ok().map(|_| tx))
    }

    fn poke(&self) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(());
        }
    }
}

impl PgStore {
    fn many<T>(
        &self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
        f: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.with_reader(|c| c.rows(sql, p)?.iter().map(&f).collect())
    }
}

impl Store for PgStore {
    fn apply(&self, muts: Vec<Mutation>) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        let pending = self.submit(muts);
        blocking(|| pending.wait())
    }

    fn submit(&self, muts: Vec<Mutation>) -> Pending {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if let Some(tx) = self.tx.lock().expect("tx").as_ref() {
            let _ = tx.send(Job { muts, reply });
        }
        Pending(rx)
    }

    fn read(&self, f: &mut dyn FnMut(&mut Db<'_>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.with_reader(|c| {
            f(&mut Db {
                sql: c,
                codes: &self.codes,
            })
        })
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2");
        self.many(&sql, &[&(from as i64), &(limit as i64)], |r| read_event(r, &self.codes))
    }

    fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError> {
        self.with_reader(|c| write::read_head(c).map(|h| (h.seq, h.mac)))
    }

    fn audit_of(&self, customer: &CustomerId, limit: usize) -> Result<Vec<ChainedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit WHERE customer = $1 ORDER BY seq LIMIT $2");
        self.many(&sql, &[&customer.as_bytes().as_slice(), &(limit as i64)], |r| {
            read_event(r, &self.codes)
        })
    }

    fn audit_search(
        &self,
        filter: &custodia_core::audit::AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<crate::audit_search::AuditPage, StoreError> {
        let (head, _) = self.audit_head()?;
        crate::audit_search::search(self, EVENT_COLUMNS, head, filter, before, limit)
    }

    fn snapshot(&self, _dest: &std::path::Path) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported(
            "backups of a PostgreSQL store are taken with PostgreSQL's own tools (pg_basebackup and WAL archiving, \
             or pg_dump); see docs/DEPLOYMENT.md"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/custodia"),
            "postgres://app:***@db.internal:5432/custodia"
        );
        assert_eq!(redact_url("postgres://app@db/custodia"), "postgres://app@db/custodia");
        assert_eq!(
            redact_url("host=/run/postgresql dbname=c"),
            "host=/run/postgresql dbname=c"
        );
        assert_eq!(
            redact_url("host=db password=pw dbname=c"),
            "host=db password=*** dbname=c"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=pw&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
    }
}
