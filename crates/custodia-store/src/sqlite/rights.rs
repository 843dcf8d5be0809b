//! Tables and statements for requests, erasure, legal holds and lifecycle.

use super::privacy::customer_id;
use super::{append_events, db_err, split_list, Codes, Head};
use crate::{
    Applied, CertificateRecord, ChainLinker, HoldRecord, Lifecycle, RecipientNotice, RequestLogEntry, RequestRecord,
    StoreError, StoredCustomer, Tombstone, VaultToken,
};
use custodia_core::audit::AuditEvent;
use custodia_core::CustomerId;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id              TEXT PRIMARY KEY,
    customer        BLOB,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    regime          TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    verified_ms     INTEGER,
    verified_by     TEXT,
    verification    TEXT,
    acknowledged_ms INTEGER,
    extended        INTEGER NOT NULL,
    reason          TEXT,
    completed_ms    INTEGER,
    idem_key        TEXT UNIQUE,
    detail          BLOB
);
CREATE INDEX IF NOT EXISTS requests_customer ON requests (customer, created_ms);
CREATE INDEX IF NOT EXISTS requests_open ON requests (created_ms) WHERE status NOT IN ('completed', 'denied');
CREATE TABLE IF NOT EXISTS request_log (
    seq         INTEGER PRIMARY KEY,
    request     TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_request ON request_log (request, seq);
CREATE TABLE IF NOT EXISTS request_recipients (
    request     TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    notified_ms INTEGER,
    notified_by TEXT,
    PRIMARY KEY (request, recipient)
);
CREATE TABLE IF NOT EXISTS tombstones (
    id          TEXT PRIMARY KEY,
    customer    BLOB NOT NULL,
    erased_ms   INTEGER NOT NULL,
    fields      TEXT NOT NULL,
    request     TEXT,
    basis       TEXT NOT NULL,
    certificate TEXT NOT NULL,
    key_sha256  TEXT NOT NULL,
    actor       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    id         TEXT PRIMARY KEY,
    jws        TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS legal_holds (
    id          TEXT PRIMARY KEY,
    customer    BLOB NOT NULL,
    reason      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_ms      INTEGER NOT NULL,
    released_ms INTEGER,
    released_by TEXT
);
CREATE INDEX IF NOT EXISTS legal_holds_customer ON legal_holds (customer);
CREATE TABLE IF NOT EXISTS vault_tokens (
    token      TEXT PRIMARY KEY,
    customer   BLOB NOT NULL,
    field      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_tokens_customer ON vault_tokens (customer);
CREATE TABLE IF NOT EXISTS lifecycle (
    customer         BLOB PRIMARY KEY,
    contract_end_ms  INTEGER,
    last_activity_ms INTEGER,
    reviewed_ms      INTEGER
);
";

fn id_bytes(c: &CustomerId) -> Vec<u8> {
    c.as_bytes().to_vec()
}

fn put_request(c: &Connection, r: &RequestRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO requests (id, customer, kind, status, channel, regime, created_ms, updated_ms, verified_ms, verified_by,
            verification, acknowledged_ms, extended, reason, completed_ms, idem_key, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_ms = excluded.updated_ms,
            verified_ms = excluded.verified_ms, verified_by = excluded.verified_by, verification = excluded.verification,
            acknowledged_ms = excluded.acknowledged_ms, extended = excluded.extended, reason = excluded.reason,
            completed_ms = excluded.completed_ms",
    )
    .map_err(db_err)?
    .execute(params![
        r.id,
        r.customer.as_ref().map(id_bytes),
        r.kind,
        r.status,
        r.channel,
        r.regime,
        r.created_ms,
        r.updated_ms,
        r.verified_ms,
        r.verified_by,
        r.verification,
        r.acknowledged_ms,
        r.extended,
        r.reason,
        r.completed_ms,
        r.idem_key,
        r.detail
    ])
    .map_err(db_err)?;
    Ok(())
}

fn append_log(c: &Connection, request: &str, log: &[RequestLogEntry]) -> Result<(), StoreError> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO request_log (request, ts_ms, actor, from_status, to_status, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db_err)?;
    for l in log {
        st.execute(params![request, l.ts_ms, l.actor, l.from_status, l.to_status, l.note])
            .map_err(db_err)?;
    }
    Ok(())
}

fn put_recipients(c: &Connection, request: &str, recipients: &[RecipientNotice]) -> Result<(), StoreError> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO request_recipients (request, recipient, notified_ms, notified_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (request, recipient) DO UPDATE SET notified_ms = excluded.notified_ms, notified_by = excluded.notified_by",
        )
        .map_err(db_err)?;
    for r in recipients {
        st.execute(params![request, r.recipient, r.notified_ms, r.notified_by])
            .map_err(db_err)?;
    }
    Ok(())
}

fn status_of(c: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    c.prepare_cached("SELECT status FROM requests WHERE id = ?1")
        .map_err(db_err)?
        .query_row([id], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

fn held(c: &Connection, customer: &CustomerId) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT EXISTS (SELECT 1 FROM legal_holds WHERE customer = ?1 AND released_ms IS NULL)")
        .map_err(db_err)?
        .query_row([id_bytes(customer)], |r| r.get(0))
        .map_err(db_err)
}

fn put_tombstone(c: &Connection, t: &Tombstone) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO tombstones (id, customer, erased_ms, fields, request, basis, certificate, key_sha256, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
    )
    .map_err(db_err)?
    .execute(params![
        t.id,
        id_bytes(&t.customer),
        t.erased_ms,
        t.fields.join(","),
        t.request,
        t.basis,
        t.certificate,
        t.key_sha256,
        t.actor
    ])
    .map_err(db_err)?;
    Ok(())
}

fn put_certificate(c: &Connection, cert: &CertificateRecord) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO certificates (id, jws, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING")
        .map_err(db_err)?
        .execute(params![cert.id, cert.jws, cert.created_ms])
        .map_err(db_err)?;
    Ok(())
}

/// The rights mutations (see [`crate::Mutation`]).
pub(super) enum Rights<'a> {
    Request {
        request: &'a RequestRecord,
        expect: Option<&'a str>,
        log: &'a [RequestLogEntry],
        recipients: &'a [RecipientNotice],
    },
    Erase {
        tombstone: &'a Tombstone,
        certificate: Option<&'a CertificateRecord>,
        rekeyed: Option<&'a StoredCustomer>,
        request: Option<&'a (RequestRecord, RequestLogEntry)>,
        replay: bool,
    },
    Tombstone(&'a Tombstone),
    Tokens(&'a CustomerId, &'a [String], &'a [VaultToken]),
    Flags(&'a CustomerId, u32),
    Certificate(&'a CertificateRecord),
    Hold(&'a HoldRecord),
    Lifecycle(&'a Lifecycle),
}

pub(super) fn apply(
    c: &Connection,
    m: Rights<'_>,
    events: &[AuditEvent],
    head: &mut Head,
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Applied, StoreError> {
    match m {
        Rights::Request {
            request,
            expect,
            log,
            recipients,
        } => {
            let current = status_of(c, &request.id)?;
            match (expect, current.as_deref()) {
                (Some(want), Some(now)) if want != now => return Ok(Applied::Conflict),
                (Some(_), None) => return Ok(Applied::NotFound),
                (None, Some(_)) => return Ok(Applied::Conflict),
                _ => {}
            }
            if let (None, Some(key)) = (expect, &request.idem_key) {
                let taken: bool = c
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM requests WHERE idem_key = ?1)")
                    .map_err(db_err)?
                    .query_row([key], |r| r.get(0))
                    .map_err(db_err)?;
                if taken {
                    return Ok(Applied::Conflict);
                }
            }
            put_request(c, request)?;
            append_log(c, &request.id, log)?;
            put_recipients(c, &request.id, recipients)?;
        }
        Rights::Erase {
            tombstone,
            certificate,
            rekeyed,
            request,
            replay,
        } => {
            if !replay && held(c, &tombstone.customer)? {
                return Ok(Applied::Conflict);
            }
            let id = id_bytes(&tombstone.customer);
            match rekeyed {
                None => {
                    let n = c
                        .prepare_cached("DELETE FROM customers WHERE id = ?1")
                        .map_err(db_err)?
                        .execute([&id])
                        .map_err(db_err)?;
                    if n == 0 {
                        return Ok(Applied::NotFound);
                    }
                    c.prepare_cached("DELETE FROM portal_tokens WHERE customer = ?1")
                        .map_err(db_err)?
                        .execute([&id])
                        .map_err(db_err)?;
                    c.prepare_cached("UPDATE requests SET detail = NULL WHERE customer = ?1 AND detail IS NOT NULL")
                        .map_err(db_err)?
                        .execute([&id])
                        .map_err(db_err)?;
                    c.prepare_cached("DELETE FROM lifecycle WHERE customer = ?1")
                        .map_err(db_err)?
                        .execute([&id])
                        .map_err(db_err)?;
                    c.prepare_cached("DELETE FROM vault_tokens WHERE customer = ?1")
                        .map_err(db_err)?
                        .execute([&id])
                        .map_err(db_err)?;
                }
                Some(cu) => {
                    let blind = codes.values(&cu.blind)?;
                    let mut p: Vec<&dyn rusqlite::ToSql> = vec![
                        &id,
                        &cu.version,
                        &cu.dk_version,
                        &cu.sealed,
                        &cu.attrs,
                        &cu.updated_ms,
                        &cu.kek_version,
                        &cu.wrapped_dk,
                    ];
                    p.extend(blind.iter().map(|b| b as &dyn rusqlite::ToSql));
                    let n = c
                        .prepare_cached(&codes.sql.rekey)
                        .map_err(db_err)?
                        .execute(&p[..])
                        .map_err(db_err)?;
                    if n == 0 {
                        return Ok(Applied::NotFound);
                    }
                    let mut st = c
                        .prepare_cached("DELETE FROM vault_tokens WHERE customer = ?1 AND field = ?2")
                        .map_err(db_err)?;
                    for f in &tombstone.fields {
                        st.execute(params![&id, f]).map_err(db_err)?;
                    }
                }
            }
            put_tombstone(c, tombstone)?;
            if let Some(cert) = certificate {
                put_certificate(c, cert)?;
            }
            if let Some((r, l)) = request {
                put_request(c, r)?;
                append_log(c, &r.id, std::slice::from_ref(l))?;
            }
        }
        Rights::Certificate(cert) => put_certificate(c, cert)?,
        Rights::Tombstone(t) => put_tombstone(c, t)?,
        Rights::Tokens(customer, replace, tokens) => {
            let exists: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM customers WHERE id = ?1)")
                .map_err(db_err)?
                .query_row([id_bytes(customer)], |r| r.get(0))
                .map_err(db_err)?;
            if !exists {
                return Ok(Applied::NotFound);
            }
            let mut st = c
                .prepare_cached("DELETE FROM vault_tokens WHERE customer = ?1 AND field = ?2")
                .map_err(db_err)?;
            for f in replace.iter() {
                st.execute(params![id_bytes(customer), f]).map_err(db_err)?;
            }
            let mut st = c
                .prepare_cached(
                    "INSERT INTO vault_tokens (token, customer, field, kind, sealed, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (token) DO NOTHING",
                )
                .map_err(db_err)?;
            for t in tokens.iter() {
                st.execute(params![
                    t.token,
                    id_bytes(customer),
                    t.field,
                    t.kind,
                    t.sealed,
                    t.created_ms
                ])
                .map_err(db_err)?;
            }
        }
        Rights::Flags(id, flags) => {
            let n = c
                .prepare_cached("UPDATE customers SET flags = ?2 WHERE id = ?1")
                .map_err(db_err)?
                .execute(params![id_bytes(id), flags])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
        }
        Rights::Hold(h) => {
            c.prepare_cached(
                "INSERT INTO legal_holds (id, customer, reason, set_by, set_ms, released_ms, released_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET released_ms = excluded.released_ms, released_by = excluded.released_by",
            )
            .map_err(db_err)?
            .execute(params![
                h.id,
                id_bytes(&h.customer),
                h.reason,
                h.set_by,
                h.set_ms,
                h.released_ms,
                h.released_by
            ])
            .map_err(db_err)?;
        }
        Rights::Lifecycle(l) => {
            let Some(cid) = l.customer else {
                return Ok(Applied::NotFound);
            };
            let exists: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM customers WHERE id = ?1)")
                .map_err(db_err)?
                .query_row([id_bytes(&cid)], |r| r.get(0))
                .map_err(db_err)?;
            if !exists {
                return Ok(Applied::NotFound);
            }
            c.prepare_cached(
                "INSERT INTO lifecycle (customer, contract_end_ms, last_activity_ms, reviewed_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (customer) DO UPDATE SET contract_end_ms = excluded.contract_end_ms,
                    last_activity_ms = excluded.last_activity_ms, reviewed_ms = excluded.reviewed_ms",
            )
            .map_err(db_err)?
            .execute(params![
                id_bytes(&cid),
                l.contract_end_ms,
                l.last_activity_ms,
                l.reviewed_ms
            ])
            .map_err(db_err)?;
        }
    }
    append_events(c, head, events, codes, linker)?;
    Ok(Applied::Done)
}

const REQUEST_COLUMNS: &str =
    "id, customer, kind, status, channel, regime, created_ms, updated_ms, verified_ms, verified_by,
    verification, acknowledged_ms, extended, reason, completed_ms, idem_key, detail";

fn read_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
    Ok(RequestRecord {
        id: r.get(0)?,
        customer: r.get::<_, Option<Vec<u8>>>(1)?.map(customer_id).transpose()?,
        kind: r.get(2)?,
        status: r.get(3)?,
        channel: r.get(4)?,
        regime: r.get(5)?,
        created_ms: r.get(6)?,
        updated_ms: r.get(7)?,
        verified_ms: r.get(8)?,
        verified_by: r.get(9)?,
        verification: r.get(10)?,
        acknowledged_ms: r.get(11)?,
        extended: r.get(12)?,
        reason: r.get(13)?,
        completed_ms: r.get(14)?,
        idem_key: r.get(15)?,
        detail: r.get(16)?,
    })
}

fn many<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut st = c.prepare_cached(sql).map_err(db_err)?;
    let rows = st.query_map(p, f).map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(super) fn requests(c: &Connection, customer: &CustomerId) -> Result<Vec<RequestRecord>, StoreError> {
    many(
        c,
        &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE customer = ?1 ORDER BY created_ms, id"),
        [id_bytes(customer)],
        read_request,
    )
}

pub(super) fn request(c: &Connection, id: &str) -> Result<Option<RequestRecord>, StoreError> {
    c.prepare_cached(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"))
        .map_err(db_err)?
        .query_row([id], read_request)
        .optional()
        .map_err(db_err)
}

pub(super) fn request_by_key(c: &Connection, key: &str) -> Result<Option<RequestRecord>, StoreError> {
    c.prepare_cached(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE idem_key = ?1"))
        .map_err(db_err)?
        .query_row([key], read_request)
        .optional()
        .map_err(db_err)
}

pub(super) fn open_requests(c: &Connection) -> Result<Vec<RequestRecord>, StoreError> {
    many(
        c,
        &format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE status NOT IN ('completed', 'denied') ORDER BY created_ms, id"
        ),
        [],
        read_request,
    )
}

pub(super) fn finished_requests_before(c: &Connection, before: i64) -> Result<Vec<RequestRecord>, StoreError> {
    many(
        c,
        &format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE status IN ('completed', 'denied') AND created_ms < ?1 ORDER BY created_ms, id"
        ),
        [before],
        read_request,
    )
}

pub(super) fn request_log(c: &Connection, id: &str) -> Result<Vec<RequestLogEntry>, StoreError> {
    many(
        c,
        "SELECT ts_ms, actor, from_status, to_status, note FROM request_log WHERE request = ?1 ORDER BY seq",
        [id],
        |r| {
            Ok(RequestLogEntry {
                ts_ms: r.get(0)?,
                actor: r.get(1)?,
                from_status: r.get(2)?,
                to_status: r.get(3)?,
                note: r.get(4)?,
            })
        },
    )
}

pub(super) fn request_recipients(c: &Connection, id: &str) -> Result<Vec<RecipientNotice>, StoreError> {
    many(
        c,
        "SELECT recipient, notified_ms, notified_by FROM request_recipients WHERE request = ?1 ORDER BY recipient",
        [id],
        |r| {
            Ok(RecipientNotice {
                recipient: r.get(0)?,
                notified_ms: r.get(1)?,
                notified_by: r.get(2)?,
            })
        },
    )
}

pub(super) fn tombstones(c: &Connection) -> Result<Vec<Tombstone>, StoreError> {
    many(
        c,
        "SELECT id, customer, erased_ms, fields, request, basis, certificate, key_sha256, actor FROM tombstones
         ORDER BY erased_ms, id",
        [],
        |r| {
            Ok(Tombstone {
                id: r.get(0)?,
                customer: customer_id(r.get(1)?)?,
                erased_ms: r.get(2)?,
                fields: split_list(r.get(3)?),
                request: r.get(4)?,
                basis: r.get(5)?,
                certificate: r.get(6)?,
                key_sha256: r.get(7)?,
                actor: r.get(8)?,
            })
        },
    )
}

pub(super) fn certificate(c: &Connection, id: &str) -> Result<Option<CertificateRecord>, StoreError> {
    c.prepare_cached("SELECT id, jws, created_ms FROM certificates WHERE id = ?1")
        .map_err(db_err)?
        .query_row([id], |r| {
            Ok(CertificateRecord {
                id: r.get(0)?,
                jws: r.get(1)?,
                created_ms: r.get(2)?,
            })
        })
        .optional()
        .map_err(db_err)
}

pub(super) fn holds(c: &Connection, customer: &CustomerId) -> Result<Vec<HoldRecord>, StoreError> {
    many(
        c,
        "SELECT id, customer, reason, set_by, set_ms, released_ms, released_by FROM legal_holds WHERE customer = ?1
         ORDER BY set_ms, id",
        [id_bytes(customer)],
        |r| {
            Ok(HoldRecord {
                id: r.get(0)?,
                customer: customer_id(r.get(1)?)?,
                reason: r.get(2)?,
                set_by: r.get(3)?,
                set_ms: r.get(4)?,
                released_ms: r.get(5)?,
                released_by: r.get(6)?,
            })
        },
    )
}

fn read_lifecycle(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lifecycle> {
    Ok(Lifecycle {
        customer: Some(customer_id(r.get(0)?)?),
        contract_end_ms: r.get(1)?,
        last_activity_ms: r.get(2)?,
        reviewed_ms: r.get(3)?,
    })
}

pub(super) fn lifecycle(c: &Connection, customer: &CustomerId) -> Result<Option<Lifecycle>, StoreError> {
    c.prepare_cached(
        "SELECT customer, contract_end_ms, last_activity_ms, reviewed_ms FROM lifecycle WHERE customer = ?1",
    )
    .map_err(db_err)?
    .query_row([id_bytes(customer)], read_lifecycle)
    .optional()
    .map_err(db_err)
}

pub(super) fn lifecycles(c: &Connection) -> Result<Vec<Lifecycle>, StoreError> {
    many(
        c,
        "SELECT customer, contract_end_ms, last_activity_ms, reviewed_ms FROM lifecycle",
        [],
        read_lifecycle,
    )
}

pub(super) fn held_customers(c: &Connection) -> Result<Vec<CustomerId>, StoreError> {
    many(
        c,
        "SELECT DISTINCT customer FROM legal_holds WHERE released_ms IS NULL",
        [],
        |r| customer_id(r.get(0)?),
    )
}

pub(super) fn customers_with_consents(c: &Connection) -> Result<Vec<CustomerId>, StoreError> {
    many(c, "SELECT DISTINCT customer FROM consent_receipts", [], |r| {
        customer_id(r.get(0)?)
    })
}

pub(super) fn vault_token(c: &Connection, token: &str) -> Result<Option<VaultToken>, StoreError> {
    c.prepare_cached("SELECT token, customer, field, kind, sealed, created_ms FROM vault_tokens WHERE token = ?1")
        .map_err(db_err)?
        .query_row([token], |r| {
            Ok(VaultToken {
                token: r.get(0)?,
                customer: customer_id(r.get(1)?)?,
                field: r.get(2)?,
                kind: r.get(3)?,
                sealed: r.get(4)?,
                created_ms: r.get(5)?,
            })
        })
        .optional()
        .map_err(db_err)
}
