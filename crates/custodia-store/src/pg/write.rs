//! Write transactions: the chain lock, group commit with failure isolation,
//! the audit chain written as arrays, and the array insert of an import's
//! chunk. Every other statement is the shared body's ([`crate::write`]).

use super::{customer_id, get, Codes, Conn, CHAIN_LOCK};
use crate::{Applied, ChainLinker, Mutation, StoreError, StoredCustomer};
use custodia_core::audit::AuditEvent;
use postgres::types::ToSql;

/// The audit log's last sequence number and MAC.
pub(super) struct Head {
    pub(super) seq: u64,
    pub(super) mac: [u8; 32],
    /// The last event's time: the log's clock never runs backwards.
    pub(super) ts_ms: i64,
}

pub(super) fn read_head(c: &mut impl super::Query) -> Result<Head, StoreError> {
    match c.row("SELECT seq, mac, ts_ms FROM audit ORDER BY seq DESC LIMIT 1", &[])? {
        None => Ok(Head {
            seq: 0,
            mac: [0; 32],
            ts_ms: i64::MIN,
        }),
        Some(r) => {
            let seq: i64 = get(&r, 0)?;
            let mac: Vec<u8> = get(&r, 1)?;
            Ok(Head {
                seq: seq as u64,
                ts_ms: get(&r, 2)?,
                mac: mac
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("audit MAC is not 32 bytes".into()))?,
            })
        }
    }
}

/// Audit rows of the open transaction, kept as columns and written with
/// one statement before the commit: one round trip for a whole group's
/// events instead of one per event.
#[derive(Default)]
pub(super) struct Events {
    seq: Vec<i64>,
    ts: Vec<i64>,
    actor: Vec<String>,
    action: Vec<&'static str>,
    customer: Vec<Option<Vec<u8>>>,
    coded: Vec<Option<Vec<u8>>>,
    names: Vec<Option<String>>,
    purpose: Vec<Option<String>>,
    outcome: Vec<&'static str>,
    detail: Vec<Option<String>>,
    prev: Vec<Vec<u8>>,
    mac: Vec<Vec<u8>>,
}

impl Events {
    fn len(&self) -> usize {
        self.seq.len()
    }

    /// Forget the rows after the first `n` (a mutation rolled back to its savepoint).
    fn truncate(&mut self, n: usize) {
        self.seq.truncate(n);
        self.ts.truncate(n);
        self.actor.truncate(n);
        self.action.truncate(n);
        self.customer.truncate(n);
        self.coded.truncate(n);
        self.names.truncate(n);
        self.purpose.truncate(n);
        self.outcome.truncate(n);
        self.detail.truncate(n);
        self.prev.truncate(n);
        self.mac.truncate(n);
    }

    fn flush(&mut self, c: &mut Conn) -> Result<(), StoreError> {
        if self.len() == 0 {
            return Ok(());
        }
        c.exec(
            "INSERT INTO audit (seq, ts_ms, actor, action, customer, fields, field_names, purpose, outcome, detail, prev, mac)
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::text[],
                                  $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bytea[])",
            &[
                &self.seq,
                &self.ts,
                &self.actor,
                &self.action,
                &self.customer,
                &self.coded,
                &self.names,
                &self.purpose,
                &self.outcome,
                &self.detail,
                &self.prev,
                &self.mac,
            ],
        )?;
        *self = Events::default();
        Ok(())
    }
}

/// Chain `events` after `head` and queue them for the commit.
fn append_events(out: &mut Events, head: &mut Head, events: &[AuditEvent], codes: &Codes, linker: &ChainLinker) {
    for e in events {
        // The log's clock never runs backwards (time filters rely on it).
        let ts_ms = e.ts_ms.max(head.ts_ms);
        let seq = head.seq + 1;
        let mac = if ts_ms == e.ts_ms {
            linker(&head.mac, &e.canonical_bytes(seq))
        } else {
            let stamped = AuditEvent { ts_ms, ..e.clone() };
            linker(&head.mac, &stamped.canonical_bytes(seq))
        };
        let (coded, names) = codes.audit_columns(&e.fields);
        out.seq.push(seq as i64);
        out.ts.push(ts_ms);
        out.actor.push(e.actor.clone());
        out.action.push(e.action.as_str());
        out.customer.push(e.customer.as_ref().map(|c| c.as_bytes().to_vec()));
        out.coded.push(coded);
        out.names.push(names);
        out.purpose.push(e.purpose.as_ref().map(|p| p.as_str().to_owned()));
        out.outcome.push(e.outcome.as_str());
        out.detail.push(e.detail.clone());
        out.prev.push(head.mac.to_vec());
        out.mac.push(mac.to_vec());
        head.seq = seq;
        head.mac = mac;
        head.ts_ms = ts_ms;
    }
}

/// Apply one mutation inside the open transaction; its audit events join
/// the group's when it applied.
fn apply_one(
    c: &mut Conn,
    m: &Mutation,
    head: &mut Head,
    out: &mut Events,
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Applied, StoreError> {
    let applied = crate::write::apply(c, codes, m)?;
    if applied.appends_events() {
        append_events(out, head, m.events(), codes, linker);
    }
    Ok(applied)
}

type GroupResults = Vec<Vec<Result<Applied, StoreError>>>;

/// Apply a group in one transaction. Fast path: no savepoints. If any
/// mutation fails, the transaction is rolled back and the group replayed
/// with one savepoint per mutation, so the failure stays isolated.
pub(super) fn run_group(
    c: &mut Conn,
    jobs: &[super::Job],
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<GroupResults, StoreError> {
    match run_group_with(c, jobs, codes, linker, false) {
        Ok((all, true)) => Ok(all),
        Ok((_, false)) => run_group_with(c, jobs, codes, linker, true).map(|(all, _)| all),
        Err(e) => Err(e),
    }
}

fn run_group_with(
    c: &mut Conn,
    jobs: &[super::Job],
    codes: &Codes,
    linker: &ChainLinker,
    isolate: bool,
) -> Result<(GroupResults, bool), StoreError> {
    c.batch("BEGIN")?;
    let body = (|| -> Result<(GroupResults, bool), StoreError> {
        // First lock of every write transaction, in every process: one
        // chain, commits in sequence order, no lock-order deadlocks.
        c.exec("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])?;
        let mut head = read_head(c)?;
        let mut out = Events::default();
        let flat: Vec<(usize, &Mutation)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(j, job)| job.muts.iter().map(move |m| (j, m)))
            .collect();
        let mut all: GroupResults = jobs.iter().map(|j| Vec::with_capacity(j.muts.len())).collect();
        let mut i = 0;
        while i < flat.len() {
            if !isolate {
                // A run of plain inserts (an import's chunk) is one statement.
                let run = flat[i..].iter().take_while(|(_, m)| plain_insert(m).is_some()).count();
                if run > 1 {
                    let customers: Vec<(&StoredCustomer, &[AuditEvent])> =
                        flat[i..i + run].iter().filter_map(|(_, m)| plain_insert(m)).collect();
                    match insert_many(c, &customers, &mut head, &mut out, codes, linker) {
                        Ok(results) => {
                            for ((j, _), r) in flat[i..i + run].iter().zip(results) {
                                all[*j].push(Ok(r));
                            }
                        }
                        Err(e @ StoreError::Unavailable(_)) => return Err(e),
                        Err(_) => return Ok((Vec::new(), false)),
                    }
                    i += run;
                    continue;
                }
                match apply_one(c, flat[i].1, &mut head, &mut out, codes, linker) {
                    Ok(a) => all[flat[i].0].push(Ok(a)),
                    // A lost connection is not worth replaying.
                    Err(e @ StoreError::Unavailable(_)) => return Err(e),
                    // A statement error aborts the whole transaction: replay
                    // with savepoints.
                    Err(_) => return Ok((Vec::new(), false)),
                }
                i += 1;
                continue;
            }
            c.batch("SAVEPOINT m")?;
            let saved = (head.seq, head.mac, head.ts_ms, out.len());
            match apply_one(c, flat[i].1, &mut head, &mut out, codes, linker) {
                Ok(a) => {
                    c.batch("RELEASE m")?;
                    all[flat[i].0].push(Ok(a));
                }
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) => {
                    c.batch("ROLLBACK TO m; RELEASE m")?;
                    (head.seq, head.mac, head.ts_ms) = (saved.0, saved.1, saved.2);
                    out.truncate(saved.3);
                    all[flat[i].0].push(Err(e));
                }
            }
            i += 1;
        }
        out.flush(c)?;
        Ok((all, true))
    })();
    match body {
        Ok((all, true)) => {
            c.batch("COMMIT")?;
            Ok((all, true))
        }
        Ok((all, false)) => {
            c.batch("ROLLBACK")?;
            Ok((all, false))
        }
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// An insert without consents (those take the one-by-one path).
fn plain_insert(m: &Mutation) -> Option<(&StoredCustomer, &[AuditEvent])> {
    match m {
        Mutation::Insert {
            customer,
            consents,
            events,
        } if consents.is_empty() => Some((customer.as_ref(), events.as_slice())),
        _ => None,
    }
}

/// Insert many customers with one statement (arrays unnested into rows).
/// Those whose external id exists are skipped, as one by one, and their
/// events dropped; the others' events are chained in order.
fn insert_many(
    c: &mut Conn,
    customers: &[(&StoredCustomer, &[AuditEvent])],
    head: &mut Head,
    out: &mut Events,
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Vec<Applied>, StoreError> {
    let n = customers.len();
    let mut ids = Vec::with_capacity(n);
    let mut ext = Vec::with_capacity(n);
    let (mut version, mut kek, mut dk) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut wrapped, mut sealed, mut attrs) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut created, mut updated) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut blind: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(n); codes.list.len()];
    for (cu, _) in customers {
        for (col, v) in blind.iter_mut().zip(codes.values(&cu.blind)?) {
            col.push(v);
        }
        ids.push(cu.id.as_bytes().to_vec());
        ext.push(cu.external_id.as_deref());
        version.push(cu.version);
        kek.push(i64::from(cu.kek_version));
        dk.push(i64::from(cu.dk_version));
        wrapped.push(cu.wrapped_dk.as_slice());
        sealed.push(cu.sealed.as_slice());
        attrs.push(cu.attrs.as_str());
        created.push(cu.created_ms);
        updated.push(cu.updated_ms);
    }
    let bi = codes.columns();
    let sql = format!(
        "INSERT INTO customers (id, external_id, version, kek_version, dk_version, wrapped_dk, sealed, attrs, created_ms, updated_ms{})
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::bytea[], $7::bytea[], $8::text[],
                              $9::int8[], $10::int8[]{})
         ON CONFLICT (external_id) DO NOTHING RETURNING id",
        bi.iter().map(|b| format!(", {b}")).collect::<String>(),
        (0..bi.len()).map(|i| format!(", ${}::int8[]", 11 + i)).collect::<String>()
    );
    let mut p: Vec<&(dyn ToSql + Sync)> = vec![
        &ids, &ext, &version, &kek, &dk, &wrapped, &sealed, &attrs, &created, &updated,
    ];
    p.extend(blind.iter().map(|b| b as &(dyn ToSql + Sync)));
    let inserted: std::collections::HashSet<Vec<u8>> =
        c.rows(&sql, &p)?.iter().map(|r| get(r, 0)).collect::<Result<_, _>>()?;
    let mut existing = std::collections::HashMap::new();
    if inserted.len() < n {
        let skipped: Vec<&str> = customers
            .iter()
            .filter(|(cu, _)| !inserted.contains(cu.id.as_bytes().as_slice()))
            .filter_map(|(cu, _)| cu.external_id.as_deref())
            .collect();
        for r in c.rows(
            "SELECT external_id, id FROM customers WHERE external_id = ANY($1)",
            &[&skipped],
        )? {
            existing.insert(get::<String>(&r, 0)?, customer_id(get(&r, 1)?)?);
        }
    }
    let mut results = Vec::with_capacity(n);
    for (cu, events) in customers {
        if inserted.contains(cu.id.as_bytes().as_slice()) {
            append_events(out, head, events, codes, linker);
            results.push(Applied::Done);
        } else {
            let found = cu.external_id.as_ref().and_then(|e| existing.get(e)).copied();
            results.push(Applied::ExternalIdExists(found.ok_or_else(|| {
                StoreError::Database("insert skipped but no record has its external id".into())
            })?));
        }
    }
    Ok(results)
}
