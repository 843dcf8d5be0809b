//! Read connections: asynchronous clients whose sockets are driven by one
//! small runtime of the store's own, waited on by the calling thread.
//!
//! The synchronous client runs a runtime of its own per call, which may not
//! start on a thread that drives async tasks; moving every read off the
//! async worker (`block_in_place`) costs a thread hand-off per request. A
//! read here only sends its query to the connection task and parks the
//! calling thread until the answer is in, like a read of the embedded file.

use super::pg_err;
use crate::StoreError;
use postgres::types::ToSql;
use postgres::{Row, Statement};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

/// The runtime that drives every read connection's socket.
fn io() -> &'static tokio::runtime::Runtime {
    static IO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("custodia-pg-io")
            .enable_all()
            .build()
            .expect("the PostgreSQL I/O runtime starts")
    })
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Poll `f` to completion on this thread, parking between polls. Works on
/// any thread, async worker or not: nothing here enters a runtime.
fn wait<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Run a connection's socket until it ends.
async fn drive(connection: impl Future<Output = Result<(), postgres::Error>>) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "read connection ended");
    }
}

/// A read connection with its prepared statements.
pub(crate) struct ReadConn {
    client: tokio_postgres::Client,
    statements: HashMap<String, Statement>,
}

impl ReadConn {
    pub(crate) fn open(
        config: &tokio_postgres::Config,
        tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    ) -> Result<ReadConn, StoreError> {
        let config = config.clone();
        let connecting = io().spawn(async move {
            let client = match tls {
                None => {
                    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                    tokio::spawn(drive(connection));
                    client
                }
                Some(tls) => {
                    let (client, connection) = config.connect(tls).await?;
                    tokio::spawn(drive(connection));
                    client
                }
            };
            Ok::<_, postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(|e| StoreError::Database(format!("PostgreSQL I/O runtime: {e}")))?
            .map_err(pg_err)?;
        Ok(ReadConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = wait(self.client.prepare(sql)).map_err(pg_err)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Run a statement (reads only use it for diagnostics).
    pub(crate) fn exec(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let st = self.statement(sql)?;
        wait(self.client.execute(&st, p)).map_err(pg_err)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl super::Query for ReadConn {
    fn rows(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let st = self.statement(sql)?;
        wait(self.client.query(&st, p)).map_err(pg_err)
    }

    fn row(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        let st = self.statement(sql)?;
        wait(self.client.query_opt(&st, p)).map_err(pg_err)
    }
}
