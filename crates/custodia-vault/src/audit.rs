//! Verifying and reading the audit log.
//!
//! What verification proves: every stored event is one Custodia wrote (its
//! MAC needs the master secret), in the position it was written, with no
//! gap before it. What it cannot prove on its own: that events were not cut
//! off the end. Keep the head (`custodia audit tail -n 1 --json`: `seq` and
//! `mac`) somewhere the database's administrators cannot write, and compare.

use crate::{FieldProblem, Vault, VaultError};
use custodia_core::audit::{Action, AuditFilter, ChainedEvent, Outcome};
use custodia_core::Purpose;
use serde::{Deserialize, Serialize};

/// One break in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainProblem {
    /// Events are missing: sequence numbers `from..=to` are absent.
    Missing {
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// The event's content or MAC was changed (or it was forged).
    Modified {
        /// Its sequence number.
        seq: u64,
    },
    /// A valid event stored at the wrong position.
    Moved {
        /// Where it is stored.
        seq: u64,
        /// Where it was written.
        written_at: u64,
    },
    /// The event does not follow the one stored before it: something
    /// between them was removed or the order was changed.
    BrokenLink {
        /// Its sequence number.
        seq: u64,
    },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Missing { from, to } if from == to => write!(f, "event {from} is missing (deleted)"),
            ChainProblem::Missing { from, to } => write!(f, "events {from} to {to} are missing (deleted)"),
            ChainProblem::Modified { seq } => write!(f, "event {seq} was modified or forged (MAC mismatch)"),
            ChainProblem::Moved { seq, written_at } => {
                write!(f, "event {seq} was written as event {written_at} (reordered)")
            }
            ChainProblem::BrokenLink { seq } => write!(
                f,
                "event {seq} does not follow event {} (inserted, removed or reordered events)",
                seq - 1
            ),
        }
    }
}

/// Result of `audit verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// Whether the chain is intact.
    pub ok: bool,
    /// Every break found (at most 1000 listed).
    pub problems: Vec<ChainProblem>,
}

/// An audit search as a person or a program writes it: every condition
/// optional, each refused by name when it does not parse.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exactly this actor (`staff:alice`, `service:etl/3`, `system:retention`).
    #[serde(default)]
    pub actor: Option<String>,
    /// About this customer (its id).
    #[serde(default)]
    pub customer: Option<String>,
    /// This action (`reveal`, `export`, …).
    #[serde(default)]
    pub action: Option<String>,
    /// For this purpose.
    #[serde(default)]
    pub purpose: Option<String>,
    /// `ok`, `denied` or `failed`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// From this date (`YYYY-MM-DD`, the company's zone) or instant (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// Until this date (the whole day) or instant.
    #[serde(default)]
    pub to: Option<String>,
    /// The cursor of the page: events older than this sequence number.
    #[serde(default)]
    pub before: Option<u64>,
    /// Events per page (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One page of an audit search.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSearch {
    /// Matching events, newest first.
    pub events: Vec<ChainedEvent>,
    /// The cursor of the next (older) page, when there is one.
    pub next: Option<u64>,
    /// The sequence numbers searched, oldest and newest.
    pub searched: Option<(u64, u64)>,
    /// The log's last sequence number.
    pub head: u64,
}

impl AuditQuery {
    /// The typed filter, or every condition that does not parse.
    pub fn filter(&self, zone: chrono_tz::Tz) -> Result<AuditFilter, VaultError> {
        let mut problems = Vec::new();
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let mut f = AuditFilter {
            actor: given(&self.actor),
            ..Default::default()
        };
        if let Some(c) = given(&self.customer) {
            match c.parse() {
                Ok(id) => f.customer = Some(id),
                Err(_) => problems.push(FieldProblem::new("customer", "bad_id", "not a customer id")),
            }
        }
        if let Some(a) = given(&self.action) {
            match Action::parse(&a) {
                Some(a) => f.action = Some(a),
                None => problems.push(FieldProblem::new(
                    "action",
                    "unknown_action",
                    format!("unknown action; one of: {}", action_names()),
                )),
            }
        }
        if let Some(p) = given(&self.purpose) {
            match Purpose::new(&p) {
                Ok(p) => f.purpose = Some(p),
                Err(_) => problems.push(FieldProblem::new("purpose", "bad_purpose", "not a purpose id")),
            }
        }
        if let Some(o) = given(&self.outcome) {
            match Outcome::parse(&o) {
                Some(o) => f.outcome = Some(o),
                None => problems.push(FieldProblem::new(
                    "outcome",
                    "unknown_outcome",
                    "one of: ok, denied, failed",
                )),
            }
        }
        for (name, value, end) in [("from", &self.from, false), ("to", &self.to, true)] {
            if let Some(v) = given(value) {
                match instant(&v, zone, end) {
                    Some(ms) if end => f.to_ms = Some(ms),
                    Some(ms) => f.from_ms = Some(ms),
                    None => problems.push(FieldProblem::new(
                        name,
                        "bad_time",
                        "a date (YYYY-MM-DD) or an instant (RFC 3339)",
                    )),
                }
            }
        }
        if let (Some(a), Some(b)) = (f.from_ms, f.to_ms) {
            if a > b {
                problems.push(FieldProblem::new("to", "bad_range", "ends before it starts"));
            }
        }
        if problems.is_empty() {
            Ok(f)
        } else {
            Err(VaultError::Invalid(problems))
        }
    }
}

fn action_names() -> String {
    custodia_core::audit::ACTIONS
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A date's first (or, for `end`, last) millisecond in `zone`, or an instant.
fn instant(v: &str, zone: chrono_tz::Tz, end: bool) -> Option<i64> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    let day = if end { d.succ_opt()? } else { d };
    let start = zone
        .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .earliest()?
        .timestamp_millis();
    Some(if end { start - 1 } else { start })
}

const PAGE: usize = 10_000;
const MAX_PROBLEMS: usize = 1000;

impl Vault {
    /// Check every event's MAC and its link to its predecessor.
    pub fn audit_verify(&self, p: &crate::access::authz::Principal) -> Result<VerifyReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReadAudit)?;
        let chain = self.keys().audit_chain();
        let mut problems = Vec::new();
        let mut expected = 1u64;
        let mut prev_mac = [0u8; 32];
        let mut events = 0u64;
        let mut from = 1u64;
        loop {
            let page = self.store().audit_range(from, PAGE)?;
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            for e in &page {
                events += 1;
                if e.seq != expected {
                    problems.push(ChainProblem::Missing {
                        from: expected,
                        to: e.seq - 1,
                    });
                }
                let valid = chain.link(&e.prev, &e.event.canonical_bytes(e.seq)) == e.mac;
                if !valid {
                    // Written at another position? Try nearby sequence numbers.
                    let lo = e.seq.saturating_sub(64).max(1);
                    match (lo..e.seq + 64)
                        .find(|&s| s != e.seq && chain.link(&e.prev, &e.event.canonical_bytes(s)) == e.mac)
                    {
                        Some(at) => problems.push(ChainProblem::Moved {
                            seq: e.seq,
                            written_at: at,
                        }),
                        None => problems.push(ChainProblem::Modified { seq: e.seq }),
                    }
                } else if e.prev != prev_mac && e.seq == expected {
                    problems.push(ChainProblem::BrokenLink { seq: e.seq });
                }
                prev_mac = e.mac;
                expected = e.seq + 1;
                if problems.len() >= MAX_PROBLEMS {
                    return Ok(VerifyReport {
                        events,
                        ok: false,
                        problems,
                    });
                }
            }
        }
        Ok(VerifyReport {
            events,
            ok: problems.is_empty(),
            problems,
        })
    }

    /// One page of the events `q` asks for, newest first (needs
    /// `read_audit`). The page reads a bounded number of events whatever
    /// the log's size; see [`custodia_store::audit_search`].
    pub fn audit_search(&self, p: &crate::access::authz::Principal, q: &AuditQuery) -> Result<AuditSearch, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReadAudit)?;
        let f = q.filter(self.company_zone())?;
        let page = self
            .store()
            .audit_search(&f, q.before, q.limit.unwrap_or(50).clamp(1, 500))?;
        let (head, _) = self.store().audit_head()?;
        Ok(AuditSearch {
            events: page.events,
            next: page.next,
            searched: page.searched,
            head,
        })
    }

    /// The last `n` events, oldest first.
    pub fn audit_tail(&self, p: &crate::access::authz::Principal, n: usize) -> Result<Vec<ChainedEvent>, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReadAudit)?;
        let (head, _) = self.store().audit_head()?;
        let from = head.saturating_sub(n as u64).saturating_add(1);
        Ok(self.store().audit_range(from, n)?)
    }
}
