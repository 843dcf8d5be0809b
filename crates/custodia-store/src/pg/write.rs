//! Write transactions: the chain lock, group commit with failure isolation,
//! and every [`Mutation`] in PostgreSQL's dialect.

use super::{customer_id, get, Codes, Conn, CHAIN_LOCK};
use crate::{Applied, ChainLinker, ConsentRecord, Mutation, StoreError, StoredCustomer};
use custodia_core::audit::AuditEvent;
use custodia_core::CustomerId;
use postgres::types::ToSql;

/// The audit log's last sequence number and MAC.
pub(super) struct Head {
    pub(super) seq: u64,
    pub(super) mac: [u8; 32],
}

pub(super) fn read_head(c: &mut impl super::Query) -> Result<Head, StoreError> {
    match c.row("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1", &[])? {
        None => Ok(Head { seq: 0, mac: [0; 32] }),
        Some(r) => {
            let seq: i64 = get(&r, 0)?;
            let mac: Vec<u8> = get(&r, 1)?;
            Ok(Head {
                seq: seq as u64,
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
        let seq = head.seq + 1;
        let mac = linker(&head.mac, &e.canonical_bytes(seq));
        let (coded, names) = codes.audit_columns(&e.fields);
        out.seq.push(seq as i64);
        out.ts.push(e.ts_ms);
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
    }
}

fn id(c: &CustomerId) -> Vec<u8> {
    c.as_bytes().to_vec()
}

fn exists(c: &mut Conn, customer: &CustomerId) -> Result<bool, StoreError> {
    let r = c.row("SELECT 1 FROM customers WHERE id = $1", &[&id(customer)])?;
    Ok(r.is_some())
}

fn insert_receipts(c: &mut Conn, receipts: &[ConsentRecord]) -> Result<(), StoreError> {
    for r in receipts {
        c.exec(
            "INSERT INTO consent_receipts (id, customer, purpose, notice_version, given, ts_ms, channel, collector, text_sha256, kinds, given_by, language)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &r.id,
                &id(&r.customer),
                &r.purpose,
                &i64::from(r.notice_version),
                &r.given,
                &r.ts_ms,
                &r.channel,
                &r.collector,
                &r.text_sha256,
                &r.kinds.join(","),
                &r.given_by,
                &r.language,
            ],
        )?;
    }
    Ok(())
}

fn put_portal_token(c: &mut Conn, t: &crate::PortalTokenRecord) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO portal_tokens (digest, customer, kind, csrf, created_ms, expires_ms, used, issued_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (digest) DO UPDATE SET created_ms = excluded.created_ms, expires_ms = excluded.expires_ms,
           used = excluded.used, issued_by = excluded.issued_by",
        &[
            &t.digest,
            &id(&t.customer),
            &t.kind,
            &t.csrf,
            &t.created_ms,
            &t.expires_ms,
            &t.used,
            &t.issued_by,
        ],
    )?;
    // Credentials a day past their expiry are of no use to anyone.
    c.exec(
        "DELETE FROM portal_tokens WHERE expires_ms < $1",
        &[&(t.created_ms - 86_400_000)],
    )?;
    Ok(())
}

fn put_request(c: &mut Conn, r: &crate::RequestRecord) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO requests (id, customer, kind, status, channel, regime, created_ms, updated_ms, verified_ms, verified_by,
            verification, acknowledged_ms, extended, reason, completed_ms, idem_key, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_ms = excluded.updated_ms,
            verified_ms = excluded.verified_ms, verified_by = excluded.verified_by, verification = excluded.verification,
            acknowledged_ms = excluded.acknowledged_ms, extended = excluded.extended, reason = excluded.reason,
            completed_ms = excluded.completed_ms",
        &[
            &r.id,
            &r.customer.as_ref().map(id),
            &r.kind,
            &r.status,
            &r.channel,
            &r.regime,
            &r.created_ms,
            &r.updated_ms,
            &r.verified_ms,
            &r.verified_by,
            &r.verification,
            &r.acknowledged_ms,
            &r.extended,
            &r.reason,
            &r.completed_ms,
            &r.idem_key,
            &r.detail,
        ],
    )?;
    Ok(())
}

fn append_log(c: &mut Conn, request: &str, log: &[crate::RequestLogEntry]) -> Result<(), StoreError> {
    for l in log {
        c.exec(
            "INSERT INTO request_log (request, ts_ms, actor, from_status, to_status, note) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&request, &l.ts_ms, &l.actor, &l.from_status, &l.to_status, &l.note],
        )?;
    }
    Ok(())
}

fn put_tombstone(c: &mut Conn, t: &crate::Tombstone) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO tombstones (id, customer, erased_ms, fields, request, basis, certificate, key_sha256, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        &[
            &t.id,
            &id(&t.customer),
            &t.erased_ms,
            &t.fields.join(","),
            &t.request,
            &t.basis,
            &t.certificate,
            &t.key_sha256,
            &t.actor,
        ],
    )?;
    Ok(())
}

fn put_certificate(c: &mut Conn, cert: &crate::CertificateRecord) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO certificates (id, jws, created_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        &[&cert.id, &cert.jws, &cert.created_ms],
    )?;
    Ok(())
}

/// The columns of a rewritten record, blind values last.
fn record_params<'a>(head: Vec<&'a (dyn ToSql + Sync)>, blind: &'a [Option<i64>]) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut p = head;
    p.extend(blind.iter().map(|b| b as &(dyn ToSql + Sync)));
    p
}

fn rekey(c: &mut Conn, codes: &Codes, cu: &StoredCustomer) -> Result<u64, StoreError> {
    let blind = codes.values(&cu.blind)?;
    let cid = id(&cu.id);
    let (dk, kek) = (i64::from(cu.dk_version), i64::from(cu.kek_version));
    let p = record_params(
        vec![
            &cid,
            &cu.version,
            &dk,
            &cu.sealed,
            &cu.attrs,
            &cu.updated_ms,
            &kek,
            &cu.wrapped_dk,
        ],
        &blind,
    );
    c.exec(&codes.sql.rekey, &p)
}

/// Insert (refusing an existing name when `create`) or replace an
/// account; false when creation found the name taken.
fn put_account(c: &mut Conn, a: &crate::AccountRecord, create: bool) -> Result<bool, StoreError> {
    let sql = if create {
        crate::access::ACCOUNT_CREATE
    } else {
        crate::access::ACCOUNT_PUT
    };
    let n = c.exec(
        sql,
        &[
            &a.name,
            &a.kind,
            &a.password,
            &a.roles.join(","),
            &a.mfa_secret,
            &a.mfa_pending,
            &a.mfa_last_step,
            &a.recovery.join(","),
            &a.disabled,
            &a.created_ms,
            &a.updated_ms,
            &a.email,
            &a.deleted_ms,
        ],
    )?;
    Ok(n > 0)
}

fn put_account_if(c: &mut Conn, a: &crate::AccountRecord, expect: i64) -> Result<bool, StoreError> {
    let n = c.exec(
        crate::access::ACCOUNT_PUT_IF,
        &[
            &a.kind,
            &a.password,
            &a.roles.join(","),
            &a.mfa_secret,
            &a.mfa_pending,
            &a.mfa_last_step,
            &a.recovery.join(","),
            &a.disabled,
            &a.updated_ms,
            &a.email,
            &a.deleted_ms,
            &a.name,
            &expect,
        ],
    )?;
    Ok(n > 0)
}

/// Apply one mutation inside the open transaction.
fn apply_one(
    c: &mut Conn,
    m: &Mutation,
    head: &mut Head,
    out: &mut Events,
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Applied, StoreError> {
    let events: &[AuditEvent] = match m {
        Mutation::Insert {
            customer: cu,
            consents,
            events,
        } => {
            let blind = codes.values(&cu.blind)?;
            let cid = id(&cu.id);
            let (kek, dk) = (i64::from(cu.kek_version), i64::from(cu.dk_version));
            let p = record_params(
                vec![
                    &cid,
                    &cu.external_id,
                    &cu.version,
                    &kek,
                    &dk,
                    &cu.wrapped_dk,
                    &cu.sealed,
                    &cu.attrs,
                    &cu.created_ms,
                    &cu.updated_ms,
                ],
                &blind,
            );
            if c.exec(&codes.sql.insert, &p)? == 0 {
                let r = c
                    .row("SELECT id FROM customers WHERE external_id = $1", &[&cu.external_id])?
                    .ok_or_else(|| StoreError::Database("insert skipped but no record has its external id".into()))?;
                return Ok(Applied::ExternalIdExists(customer_id(get(&r, 0)?)?));
            }
            insert_receipts(c, consents)?;
            events
        }
        Mutation::Update { customer: cu, events } => {
            let blind = codes.values(&cu.blind)?;
            let cid = id(&cu.id);
            let dk = i64::from(cu.dk_version);
            let p = record_params(
                vec![&cid, &cu.version, &dk, &cu.sealed, &cu.attrs, &cu.updated_ms],
                &blind,
            );
            if c.exec(&codes.sql.update, &p)? == 0 {
                return Ok(match c.row("SELECT version FROM customers WHERE id = $1", &[&cid])? {
                    None => Applied::NotFound,
                    Some(r) => Applied::VersionConflict(get(&r, 0)?),
                });
            }
            events
        }
        Mutation::Delete { id: cid, events } => {
            if c.exec("DELETE FROM customers WHERE id = $1", &[&id(cid)])? == 0 {
                return Ok(Applied::NotFound);
            }
            events
        }
        Mutation::Rewrap {
            id: cid,
            from_kek,
            to_kek,
            wrapped_dk,
        } => {
            let n = c.exec(
                "UPDATE customers SET kek_version = $3, wrapped_dk = $4 WHERE id = $1 AND kek_version = $2",
                &[&id(cid), &i64::from(*from_kek), &i64::from(*to_kek), wrapped_dk],
            )?;
            return Ok(if n == 1 {
                Applied::Done
            } else {
                Applied::AlreadyRewrapped
            });
        }
        Mutation::Audit(events) => events,
        Mutation::PutAccount {
            account: a,
            create,
            events,
        } => {
            if !put_account(c, a, *create)? {
                return Ok(Applied::AccountExists);
            }
            events
        }
        Mutation::CountFailure {
            key,
            now_ms,
            window_ms,
            limit,
            lock_ms,
            events,
        } => {
            let old = match c.row(crate::access::COUNTER_GET, &[key])? {
                Some(r) => Some(super::read_counter_row(&r)?),
                None => None,
            };
            let (n, locked) = crate::next_counter(old, key, *now_ms, *window_ms, *limit, *lock_ms);
            c.exec(
                crate::access::COUNTER_PUT,
                &[&n.key, &i64::from(n.failures), &n.window_start_ms, &n.locked_until_ms],
            )?;
            if crate::access::prune_now() {
                c.exec(crate::access::COUNTER_PRUNE, &[&(now_ms - 7 * 86_400_000)])?;
            }
            append_events(out, head, events, codes, linker);
            return Ok(Applied::Counted(n, locked));
        }
        Mutation::ClearCounters { keys, prefixes, events } => {
            for k in keys {
                c.exec(crate::access::COUNTER_DELETE, &[k])?;
            }
            for k in prefixes {
                c.exec(crate::access::COUNTER_DELETE_PREFIX, &[k])?;
            }
            events
        }
        Mutation::PutAccountLink { link: l, events } => {
            c.exec(crate::access::LINK_DROP_OLDER, &[&l.account, &l.kind])?;
            c.exec(
                crate::access::LINK_INSERT,
                &[
                    &l.digest,
                    &l.account,
                    &l.kind,
                    &l.created_ms,
                    &l.expires_ms,
                    &l.used,
                    &l.created_by,
                ],
            )?;
            events
        }
        Mutation::UseAccountLink {
            digest,
            now_ms,
            account,
            expect_updated_ms,
            events,
        } => {
            let usable = c.row(crate::access::LINK_USABLE, &[digest, now_ms])?.is_some();
            if !usable || !put_account_if(c, account, *expect_updated_ms)? {
                return Ok(Applied::NotFound);
            }
            c.exec(crate::access::LINK_USE, &[digest, now_ms])?;
            events
        }
        Mutation::PutAccountIf {
            account,
            expect_updated_ms,
            events,
        } => {
            if !put_account_if(c, account, *expect_updated_ms)? {
                return Ok(Applied::NotFound);
            }
            events
        }
        Mutation::DropAccountLinks { account } => {
            c.exec(crate::access::LINK_DROP_ACCOUNT, &[account])?;
            return Ok(Applied::Done);
        }
        Mutation::PutApproval { approval: a, events } => {
            c.exec(
                crate::access::APPROVAL_INSERT,
                &[
                    &a.id,
                    &a.kind,
                    &a.account,
                    &a.roles.join(","),
                    &a.requested_by,
                    &a.requested_ms,
                    &a.state,
                    &a.decided_by,
                    &a.decided_ms,
                    &a.note,
                    &a.payload,
                ],
            )?;
            events
        }
        Mutation::DecideApproval { approval: a, events } => {
            if c.exec(
                crate::access::APPROVAL_DECIDE,
                &[&a.state, &a.decided_by, &a.decided_ms, &a.note, &a.id],
            )? == 0
            {
                return Ok(Applied::NotFound);
            }
            events
        }
        Mutation::RevokeSessions { account, events } => {
            c.exec(crate::access::SESSIONS_REVOKE, &[account])?;
            events
        }
        Mutation::PutSession { session: x, events } => {
            c.exec(
                "INSERT INTO sessions (digest, account, mfa_ok, csrf, created_ms, expires_ms, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (digest) DO UPDATE SET mfa_ok = excluded.mfa_ok, expires_ms = excluded.expires_ms, revoked = excluded.revoked",
                &[&x.digest, &x.account, &x.mfa_ok, &x.csrf, &x.created_ms, &x.expires_ms, &x.revoked],
            )?;
            // Expired sessions are of no use to anyone: drop them as we go.
            c.exec(
                "DELETE FROM sessions WHERE expires_ms < $1",
                &[&(x.created_ms.min(x.expires_ms) - 86_400_000)],
            )?;
            events
        }
        Mutation::PutCampaign {
            id: campaign,
            created_by,
            created_ms,
            items,
            events,
        } => {
            c.exec(
                "INSERT INTO review_campaigns (id, created_by, created_ms) VALUES ($1, $2, $3)",
                &[campaign, created_by, created_ms],
            )?;
            for it in items {
                c.exec(
                    "INSERT INTO review_items (campaign, account, role) VALUES ($1, $2, $3)",
                    &[campaign, &it.account, &it.role],
                )?;
            }
            events
        }
        Mutation::DecideReview { item, account, events } => {
            let n = c.exec(
                "UPDATE review_items SET decision = $4, decided_by = $5, decided_ms = $6, note = $7
                 WHERE campaign = $1 AND account = $2 AND role = $3 AND decision IS NULL",
                &[
                    &item.campaign,
                    &item.account,
                    &item.role,
                    &item.decision,
                    &item.decided_by,
                    &item.decided_ms,
                    &item.note,
                ],
            )?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            if let Some(a) = account {
                c.exec(
                    "UPDATE accounts SET roles = $2, updated_ms = $3 WHERE name = $1",
                    &[&a.name, &a.roles.join(","), &a.updated_ms],
                )?;
            }
            events
        }
        Mutation::PutToken { token: t, events } => {
            c.exec(
                "INSERT INTO api_tokens (id, account, digest, scopes, expires_ms, revoked, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&t.id, &t.account, &t.digest, &t.scopes.join(","), &t.expires_ms, &t.revoked, &t.created_ms],
            )?;
            events
        }
        Mutation::RevokeToken { id: token, events } => {
            if c.exec("UPDATE api_tokens SET revoked = true WHERE id = $1", &[token])? == 0 {
                return Ok(Applied::NotFound);
            }
            events
        }
        Mutation::PutTraining { training: t, events } => {
            c.exec(
                "INSERT INTO training (account, course, completed, score, expires, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (account, course, completed) DO UPDATE SET score = excluded.score, expires = excluded.expires, recorded_by = excluded.recorded_by",
                &[&t.account, &t.course, &t.completed, &t.score, &t.expires, &t.recorded_by],
            )?;
            events
        }
        Mutation::BeginBulkLoad => {
            if c.row("SELECT 1 FROM customers LIMIT 1", &[])?.is_some() {
                return Ok(Applied::NotFound);
            }
            for (code, _) in &codes.list {
                c.batch(&format!("DROP INDEX IF EXISTS customers_bi_{code}"))?;
            }
            return Ok(Applied::Done);
        }
        Mutation::EndBulkLoad => {
            super::create_blind_indexes(c, &codes.list)?;
            return Ok(Applied::Done);
        }
        Mutation::PutNotice { notice: n, events } => {
            let inserted = c.exec(
                "INSERT INTO notices (version, toml, published_ms, published_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (version) DO NOTHING",
                &[&i64::from(n.version), &n.toml, &n.published_ms, &n.published_by],
            )?;
            if inserted == 0 {
                return Ok(Applied::Conflict);
            }
            events
        }
        Mutation::PutConsents {
            customer,
            receipts,
            events,
        } => {
            if !exists(c, customer)? {
                return Ok(Applied::NotFound);
            }
            insert_receipts(c, receipts)?;
            events
        }
        Mutation::PutPortalToken { token, events } => {
            put_portal_token(c, token)?;
            events
        }
        Mutation::UsePortalToken {
            digest,
            now_ms,
            then,
            events,
        } => {
            let n = c.exec(
                "UPDATE portal_tokens SET used = true WHERE digest = $1 AND NOT used AND expires_ms > $2",
                &[digest, now_ms],
            )?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            if let Some(t) = then {
                put_portal_token(c, t)?;
            }
            events
        }
        Mutation::PutRequest {
            request,
            expect_status,
            log,
            recipients,
            events,
        } => {
            let current: Option<String> = match c.row("SELECT status FROM requests WHERE id = $1", &[&request.id])? {
                Some(r) => Some(get(&r, 0)?),
                None => None,
            };
            match (expect_status.as_deref(), current.as_deref()) {
                (Some(want), Some(now)) if want != now => return Ok(Applied::Conflict),
                (Some(_), None) => return Ok(Applied::NotFound),
                (None, Some(_)) => return Ok(Applied::Conflict),
                _ => {}
            }
            if let (None, Some(key)) = (expect_status, &request.idem_key) {
                if c.row("SELECT 1 FROM requests WHERE idem_key = $1", &[key])?.is_some() {
                    return Ok(Applied::Conflict);
                }
            }
            put_request(c, request)?;
            append_log(c, &request.id, log)?;
            for r in recipients {
                c.exec(
                    "INSERT INTO request_recipients (request, recipient, notified_ms, notified_by) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (request, recipient) DO UPDATE SET notified_ms = excluded.notified_ms, notified_by = excluded.notified_by",
                    &[&request.id, &r.recipient, &r.notified_ms, &r.notified_by],
                )?;
            }
            events
        }
        Mutation::Erase {
            tombstone,
            certificate,
            rekeyed,
            request,
            replay,
            events,
        } => {
            let cid = id(&tombstone.customer);
            if !replay
                && c.row(
                    "SELECT 1 FROM legal_holds WHERE customer = $1 AND released_ms IS NULL LIMIT 1",
                    &[&cid],
                )?
                .is_some()
            {
                return Ok(Applied::Conflict);
            }
            match rekeyed {
                None => {
                    if c.exec("DELETE FROM customers WHERE id = $1", &[&cid])? == 0 {
                        return Ok(Applied::NotFound);
                    }
                    c.exec("DELETE FROM portal_tokens WHERE customer = $1", &[&cid])?;
                    c.exec(
                        "UPDATE requests SET detail = NULL WHERE customer = $1 AND detail IS NOT NULL",
                        &[&cid],
                    )?;
                    c.exec("DELETE FROM lifecycle WHERE customer = $1", &[&cid])?;
                    c.exec("DELETE FROM vault_tokens WHERE customer = $1", &[&cid])?;
                }
                Some(cu) => {
                    if rekey(c, codes, cu)? == 0 {
                        return Ok(Applied::NotFound);
                    }
                    for f in &tombstone.fields {
                        c.exec(
                            "DELETE FROM vault_tokens WHERE customer = $1 AND field = $2",
                            &[&cid, f],
                        )?;
                    }
                }
            }
            put_tombstone(c, tombstone)?;
            if let Some(cert) = certificate {
                put_certificate(c, cert)?;
            }
            if let Some(done) = request {
                let (r, l) = done.as_ref();
                put_request(c, r)?;
                append_log(c, &r.id, std::slice::from_ref(l))?;
            }
            events
        }
        Mutation::PutTombstone { tombstone, events } => {
            put_tombstone(c, tombstone)?;
            events
        }
        Mutation::SetFlags { id: cid, flags, events } => {
            if c.exec(
                "UPDATE customers SET flags = $2 WHERE id = $1",
                &[&id(cid), &i64::from(*flags)],
            )? == 0
            {
                return Ok(Applied::NotFound);
            }
            events
        }
        Mutation::PutVaultTokens {
            customer,
            replace,
            tokens,
            events,
        } => {
            if !exists(c, customer)? {
                return Ok(Applied::NotFound);
            }
            let cid = id(customer);
            for f in replace {
                c.exec(
                    "DELETE FROM vault_tokens WHERE customer = $1 AND field = $2",
                    &[&cid, f],
                )?;
            }
            for t in tokens {
                c.exec(
                    "INSERT INTO vault_tokens (token, customer, field, kind, sealed, created_ms) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (token) DO NOTHING",
                    &[&t.token, &cid, &t.field, &t.kind, &t.sealed, &t.created_ms],
                )?;
            }
            events
        }
        Mutation::PutCertificate { certificate, events } => {
            put_certificate(c, certificate)?;
            events
        }
        Mutation::PutHold { hold: h, events } => {
            c.exec(
                "INSERT INTO legal_holds (id, customer, reason, set_by, set_ms, released_ms, released_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET released_ms = excluded.released_ms, released_by = excluded.released_by",
                &[
                    &h.id,
                    &id(&h.customer),
                    &h.reason,
                    &h.set_by,
                    &h.set_ms,
                    &h.released_ms,
                    &h.released_by,
                ],
            )?;
            events
        }
        Mutation::PutLifecycle { lifecycle: l, events } => {
            let Some(customer) = l.customer else {
                return Ok(Applied::NotFound);
            };
            if !exists(c, &customer)? {
                return Ok(Applied::NotFound);
            }
            c.exec(
                "INSERT INTO lifecycle (customer, contract_end_ms, last_activity_ms, reviewed_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (customer) DO UPDATE SET contract_end_ms = excluded.contract_end_ms,
                    last_activity_ms = excluded.last_activity_ms, reviewed_ms = excluded.reviewed_ms",
                &[&id(&customer), &l.contract_end_ms, &l.last_activity_ms, &l.reviewed_ms],
            )?;
            events
        }
        Mutation::SetMeta { key, value } => {
            c.exec(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[key, value],
            )?;
            return Ok(Applied::Done);
        }
    };
    append_events(out, head, events, codes, linker);
    Ok(Applied::Done)
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
            let saved = (head.seq, head.mac, out.len());
            match apply_one(c, flat[i].1, &mut head, &mut out, codes, linker) {
                Ok(a) => {
                    c.batch("RELEASE m")?;
                    all[flat[i].0].push(Ok(a));
                }
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) => {
                    c.batch("ROLLBACK TO m; RELEASE m")?;
                    (head.seq, head.mac) = (saved.0, saved.1);
                    out.truncate(saved.2);
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
        ids.push(id(&cu.id));
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
