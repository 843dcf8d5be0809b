//! Verifying and reading the audit log.
//!
//! What verification proves: every stored event is one Custodia wrote (its
//! MAC needs the master secret), in the position it was written, with no
//! gap before it. What it cannot prove on its own: that events were not cut
//! off the end. Keep the head (`custodia audit tail -n 1 --json`: `seq` and
//! `mac`) somewhere the database's administrators cannot write, and compare.

use crate::{Vault, VaultError};
use custodia_core::audit::ChainedEvent;
use serde::Serialize;

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

    /// The last `n` events, oldest first.
    pub fn audit_tail(&self, p: &crate::access::authz::Principal, n: usize) -> Result<Vec<ChainedEvent>, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReadAudit)?;
        let (head, _) = self.store().audit_head()?;
        let from = head.saturating_sub(n as u64).saturating_add(1);
        Ok(self.store().audit_range(from, n)?)
    }
}
