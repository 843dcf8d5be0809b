//! Searching the audit log, planned once for both stores.
//!
//! A page holds the newest matching events before a cursor (a sequence
//! number), so paging back over millions of events costs the same on the
//! last page as on the first. The work a page may do is bounded:
//! * a time range becomes a range of sequence numbers through the
//!   `audit_time` index (exact, because the log's clock never runs
//!   backwards: each event is stamped no earlier than the one before);
//! * an actor or a customer is looked up through its index
//!   (`audit_actor`, `audit_customer`), so only their events are read;
//! * otherwise a page reads at most [`WINDOW`] events and, when it has
//!   found fewer matches than asked, says where the next page resumes.

use crate::StoreError;
use custodia_core::audit::{AuditFilter, ChainedEvent};

/// Most events one page reads when no index narrows the search.
pub const WINDOW: u64 = 20_000;

/// One page of a search.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Matching events, newest first.
    pub events: Vec<ChainedEvent>,
    /// The cursor of the next (older) page: `None` when nothing older
    /// can match.
    pub next: Option<u64>,
    /// The sequence numbers this page searched (oldest, newest); `None`
    /// when the range was empty.
    pub searched: Option<(u64, u64)>,
}

/// A statement parameter of the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// The oldest event at or after a time (`$1`), through the time index.
pub(crate) const FIRST_AT_OR_AFTER: &str = "SELECT seq FROM audit WHERE ts_ms >= $1 ORDER BY ts_ms, seq LIMIT 1";
/// The newest event at or before a time (`$1`), through the time index.
pub(crate) const LAST_AT_OR_BEFORE: &str =
    "SELECT seq FROM audit WHERE ts_ms <= $1 ORDER BY ts_ms DESC, seq DESC LIMIT 1";

/// The indexes the search uses (both dialects; PostgreSQL already had the
/// customer's).
pub(crate) const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS audit_customer ON audit (customer, seq) WHERE customer IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, seq);
CREATE INDEX IF NOT EXISTS audit_time ON audit (ts_ms, seq);
";

/// Dropped while an empty store is bulk loaded (built again at its end,
/// or at the next open after a crash).
pub(crate) const DROP_INDEXES: &str = "
DROP INDEX IF EXISTS audit_customer;
DROP INDEX IF EXISTS audit_actor;
DROP INDEX IF EXISTS audit_time;
";

/// The statement of one page: `columns` of events in `lo..=hi` passing
/// `f`, newest first, at most `limit`. Parameters are `$1`, `$2`, … in
/// the order they appear, each once (so both dialects bind them alike).
pub(crate) fn page_sql(columns: &str, f: &AuditFilter, lo: u64, hi: u64, limit: usize) -> (String, Vec<Param>) {
    let mut params = vec![Param::Int(lo as i64), Param::Int(hi as i64)];
    let mut sql = format!("SELECT {columns} FROM audit WHERE seq >= $1 AND seq <= $2");
    let mut cond = |col: &str, op: &str, p: Param| {
        params.push(p);
        sql.push_str(&format!(" AND {col} {op} ${}", params.len()));
    };
    if let Some(a) = &f.actor {
        cond("actor", "=", Param::Text(a.clone()));
    }
    if let Some(c) = &f.customer {
        cond("customer", "=", Param::Bytes(c.as_bytes().to_vec()));
    }
    if let Some(a) = f.action {
        cond("action", "=", Param::Text(a.as_str().into()));
    }
    if let Some(p) = &f.purpose {
        cond("purpose", "=", Param::Text(p.as_str().into()));
    }
    if let Some(o) = f.outcome {
        cond("outcome", "=", Param::Text(o.as_str().into()));
    }
    if let Some(t) = f.from_ms {
        cond("ts_ms", ">=", Param::Int(t));
    }
    if let Some(t) = f.to_ms {
        cond("ts_ms", "<=", Param::Int(t));
    }
    params.push(Param::Int(limit as i64));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", params.len()));
    (sql, params)
}

/// What a store does for a search: find a sequence number by time, and
/// read the rows of a statement.
pub(crate) trait Reader {
    fn seq_at(&self, sql: &str, ts_ms: i64) -> Result<Option<u64>, StoreError>;
    fn events(&self, sql: &str, params: &[Param]) -> Result<Vec<ChainedEvent>, StoreError>;
}

/// One page of events matching `f` older than `before` (from the head
/// when `None`), at most `limit`, in a log whose last event is `head`.
pub(crate) fn search(
    r: &impl Reader,
    columns: &str,
    head: u64,
    f: &AuditFilter,
    before: Option<u64>,
    limit: usize,
) -> Result<AuditPage, StoreError> {
    search_in(r, columns, head, f, before, limit, WINDOW)
}

fn search_in(
    r: &impl Reader,
    columns: &str,
    head: u64,
    f: &AuditFilter,
    before: Option<u64>,
    limit: usize,
    window: u64,
) -> Result<AuditPage, StoreError> {
    let empty = AuditPage {
        events: Vec::new(),
        next: None,
        searched: None,
    };
    let mut hi = before.map_or(head, |b| b.saturating_sub(1)).min(head);
    let mut floor = 1;
    if let Some(t) = f.to_ms {
        match r.seq_at(LAST_AT_OR_BEFORE, t)? {
            Some(s) => hi = hi.min(s),
            None => return Ok(empty),
        }
    }
    if let Some(t) = f.from_ms {
        match r.seq_at(FIRST_AT_OR_AFTER, t)? {
            Some(s) => floor = s,
            None => return Ok(empty),
        }
    }
    if hi < floor {
        return Ok(empty);
    }
    let lo = if f.indexed() {
        floor
    } else {
        floor.max(hi.saturating_sub(window - 1))
    };
    let limit = limit.clamp(1, 1000);
    let (sql, params) = page_sql(columns, f, lo, hi, limit);
    let events = r.events(&sql, &params)?;
    let next = if events.len() == limit {
        events.last().map(|e| e.seq).filter(|&s| s > floor)
    } else if lo > floor {
        Some(lo)
    } else {
        None
    };
    Ok(AuditPage {
        events,
        next,
        searched: Some((lo, hi)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use custodia_core::audit::{Action, Outcome};

    #[test]
    fn every_condition_is_one_numbered_parameter_in_order() {
        let f = AuditFilter {
            actor: Some("staff:a".into()),
            action: Some(Action::Reveal),
            outcome: Some(Outcome::Denied),
            from_ms: Some(5),
            ..Default::default()
        };
        let (sql, params) = page_sql("seq", &f, 10, 20, 50);
        assert_eq!(
            sql,
            "SELECT seq FROM audit WHERE seq >= $1 AND seq <= $2 AND actor = $3 AND action = $4 \
             AND outcome = $5 AND ts_ms >= $6 ORDER BY seq DESC LIMIT $7"
        );
        assert_eq!(params.len(), 7);
        assert_eq!(params[2], Param::Text("staff:a".into()));
        assert_eq!(params[6], Param::Int(50));
    }

    /// A log of `n` events in memory, read through the same plan (the
    /// stores' own reading is tested in the conformance suite).
    struct Log(Vec<ChainedEvent>);

    impl Reader for Log {
        fn seq_at(&self, sql: &str, ts: i64) -> Result<Option<u64>, StoreError> {
            let mut it = self.0.iter();
            Ok(if sql == FIRST_AT_OR_AFTER {
                it.find(|e| e.event.ts_ms >= ts).map(|e| e.seq)
            } else {
                it.rev().find(|e| e.event.ts_ms <= ts).map(|e| e.seq)
            })
        }

        fn events(&self, _sql: &str, p: &[Param]) -> Result<Vec<ChainedEvent>, StoreError> {
            let (Param::Int(lo), Param::Int(hi), Some(Param::Int(limit))) = (&p[0], &p[1], p.last()) else {
                panic!("{p:?}")
            };
            let outcome = p.iter().any(|x| *x == Param::Text("denied".into()));
            Ok(self
                .0
                .iter()
                .rev()
                .filter(|e| (*lo..=*hi).contains(&(e.seq as i64)))
                .filter(|e| !outcome || e.event.outcome == Outcome::Denied)
                .take(*limit as usize)
                .cloned()
                .collect())
        }
    }

    #[test]
    fn an_unindexed_search_reads_one_window_and_says_where_to_resume() {
        let log = Log((1..=100u64)
            .map(|seq| {
                let mut e = custodia_core::audit::AuditEvent::new(seq as i64 * 10, "staff:a", Action::Read);
                if seq % 7 == 0 {
                    e.outcome = Outcome::Denied;
                }
                ChainedEvent {
                    seq,
                    event: e,
                    prev: [0; 32],
                    mac: [0; 32],
                }
            })
            .collect());
        let f = AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut before = None;
        let mut pages = 0;
        loop {
            let p = search_in(&log, "", 100, &f, before, 50, 30).unwrap();
            pages += 1;
            let (lo, hi) = p.searched.unwrap();
            assert!(hi - lo < 30, "{lo}..{hi}");
            seen.extend(p.events.iter().map(|e| e.seq));
            match p.next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, 4);
        assert_eq!(seen, (1..=14).rev().map(|k| k * 7).collect::<Vec<_>>());
        // A time range becomes a range of sequence numbers.
        let f = AuditFilter {
            from_ms: Some(205),
            to_ms: Some(400),
            ..Default::default()
        };
        let p = search_in(&log, "", 100, &f, None, 50, 30).unwrap();
        assert_eq!(p.searched, Some((21, 40)));
        assert_eq!(p.next, None);
        // A range after the last event or before the first is empty.
        let late = AuditFilter {
            from_ms: Some(5_000),
            ..Default::default()
        };
        assert!(search_in(&log, "", 100, &late, None, 50, 30)
            .unwrap()
            .searched
            .is_none());
    }
}
