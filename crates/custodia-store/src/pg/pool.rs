//! A bounded pool of read connections. Callers beyond the bound wait for a
//! connection instead of opening one: a PostgreSQL connection is a server
//! process, and opening one per request under load costs more than the
//! query.

use super::read::ReadConn as Conn;
use crate::StoreError;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long a caller waits for a free connection before giving up.
const WAIT: Duration = Duration::from_secs(10);

pub(super) struct Pool {
    state: Mutex<State>,
    free: Condvar,
    max: usize,
}

struct State {
    idle: Vec<Conn>,
    open: usize,
}

impl Pool {
    pub(super) fn new(max: usize) -> Pool {
        Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            free: Condvar::new(),
            max: max.max(1),
        }
    }

    /// A connection: an idle one, a new one while fewer than `max` are
    /// open, else the next one given back. `Ok((conn, reused))`.
    pub(super) fn take(&self, target: &super::Target) -> Result<(Conn, bool), StoreError> {
        let mut st = self.state.lock().expect("pool");
        loop {
            while let Some(c) = st.idle.pop() {
                if !c.is_closed() {
                    return Ok((c, true));
                }
                st.open -= 1;
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return match target.read_conn() {
                    Ok(c) => Ok((c, false)),
                    Err(e) => {
                        self.state.lock().expect("pool").open -= 1;
                        self.free.notify_one();
                        Err(e)
                    }
                };
            }
            let (next, timeout) = self.free.wait_timeout(st, WAIT).expect("pool");
            st = next;
            if timeout.timed_out() && st.idle.is_empty() && st.open >= self.max {
                return Err(StoreError::Unavailable(format!(
                    "no PostgreSQL connection free within {} s ({} in use)",
                    WAIT.as_secs(),
                    self.max
                )));
            }
        }
    }

    /// Give a connection back (`broken`: it is dropped and a slot freed).
    pub(super) fn give(&self, c: Conn, broken: bool) {
        let mut st = self.state.lock().expect("pool");
        if broken || c.is_closed() {
            st.open -= 1;
        } else {
            st.idle.push(c);
        }
        drop(st);
        self.free.notify_one();
    }

    /// Drop every idle connection (the server went away).
    pub(super) fn clear(&self) {
        let mut st = self.state.lock().expect("pool");
        let n = st.idle.len();
        st.idle.clear();
        st.open -= n;
        drop(st);
        self.free.notify_all();
    }
}
