//! Tables and statements for notices, consent receipts, portal credentials
//! and customers' requests.

use super::{append_events, db_err, Codes, Head};
use crate::{Applied, ChainLinker, ConsentRecord, ConsentTally, NoticeRecord, PortalTokenRecord, StoreError};
use custodia_core::audit::AuditEvent;
use custodia_core::CustomerId;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS notices (
    version      INTEGER PRIMARY KEY,
    toml         TEXT NOT NULL,
    published_ms INTEGER NOT NULL,
    published_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_receipts (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    customer       BLOB NOT NULL,
    purpose        TEXT NOT NULL,
    notice_version INTEGER NOT NULL,
    given          INTEGER NOT NULL,
    ts_ms          INTEGER NOT NULL,
    channel        TEXT NOT NULL,
    collector      TEXT NOT NULL,
    text_sha256    TEXT NOT NULL,
    kinds          TEXT NOT NULL,
    given_by       TEXT NOT NULL,
    language       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_receipts_customer ON consent_receipts (customer, purpose, seq);
CREATE TABLE IF NOT EXISTS portal_tokens (
    digest     BLOB PRIMARY KEY,
    customer   BLOB NOT NULL,
    kind       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used       INTEGER NOT NULL,
    issued_by  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_tokens_customer ON portal_tokens (customer);
";

fn customer_exists(c: &Connection, id: &CustomerId) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT EXISTS (SELECT 1 FROM customers WHERE id = ?1)")
        .map_err(db_err)?
        .query_row([id.as_bytes().to_vec()], |r| r.get(0))
        .map_err(db_err)
}

pub(super) fn insert_receipts(c: &Connection, receipts: &[ConsentRecord]) -> Result<(), StoreError> {
    if receipts.is_empty() {
        return Ok(());
    }
    let mut st = c
        .prepare_cached(
            "INSERT INTO consent_receipts (id, customer, purpose, notice_version, given, ts_ms, channel, collector, text_sha256, kinds, given_by, language)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(db_err)?;
    for r in receipts {
        st.execute(params![
            r.id,
            r.customer.as_bytes().to_vec(),
            r.purpose,
            r.notice_version,
            r.given,
            r.ts_ms,
            r.channel,
            r.collector,
            r.text_sha256,
            r.kinds.join(","),
            r.given_by,
            r.language
        ])
        .map_err(db_err)?;
    }
    Ok(())
}

fn put_portal_token(c: &Connection, t: &PortalTokenRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO portal_tokens (digest, customer, kind, csrf, created_ms, expires_ms, used, issued_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (digest) DO UPDATE SET created_ms = excluded.created_ms, expires_ms = excluded.expires_ms,
           used = excluded.used, issued_by = excluded.issued_by",
    )
    .map_err(db_err)?
    .execute(params![
        t.digest,
        t.customer.as_bytes().to_vec(),
        t.kind,
        t.csrf,
        t.created_ms,
        t.expires_ms,
        t.used,
        t.issued_by
    ])
    .map_err(db_err)?;
    // Credentials a day past their expiry are of no use to anyone.
    c.prepare_cached("DELETE FROM portal_tokens WHERE expires_ms < ?1")
        .map_err(db_err)?
        .execute([t.created_ms - 86_400_000])
        .map_err(db_err)?;
    Ok(())
}

/// The privacy mutations (see [`crate::Mutation`]).
pub(super) enum Privacy<'a> {
    Notice(&'a NoticeRecord),
    Consents(&'a CustomerId, &'a [ConsentRecord]),
    PortalToken(&'a PortalTokenRecord),
    UsePortalToken(&'a [u8], i64, Option<&'a PortalTokenRecord>),
}

pub(super) fn apply(
    c: &Connection,
    m: Privacy<'_>,
    events: &[AuditEvent],
    head: &mut Head,
    codes: &Codes,
    linker: &ChainLinker,
) -> Result<Applied, StoreError> {
    match m {
        Privacy::Notice(n) => {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO notices (version, toml, published_ms, published_by) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (version) DO NOTHING",
                )
                .map_err(db_err)?
                .execute(params![n.version, n.toml, n.published_ms, n.published_by])
                .map_err(db_err)?;
            if inserted == 0 {
                return Ok(Applied::Conflict);
            }
        }
        Privacy::Consents(customer, receipts) => {
            if !customer_exists(c, customer)? {
                return Ok(Applied::NotFound);
            }
            insert_receipts(c, receipts)?;
        }
        Privacy::PortalToken(t) => put_portal_token(c, t)?,
        Privacy::UsePortalToken(digest, now, then) => {
            let n = c
                .prepare_cached("UPDATE portal_tokens SET used = 1 WHERE digest = ?1 AND used = 0 AND expires_ms > ?2")
                .map_err(db_err)?
                .execute(params![digest, now])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(Applied::NotFound);
            }
            if let Some(t) = then {
                put_portal_token(c, t)?;
            }
        }
    }
    append_events(c, head, events, codes, linker)?;
    Ok(Applied::Done)
}

pub(super) fn customer_id(b: Vec<u8>) -> rusqlite::Result<CustomerId> {
    let a: [u8; 16] = b.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(16, rusqlite::types::Type::Blob, "customer id is not 16 bytes".into())
    })?;
    Ok(CustomerId::from_bytes(a))
}

const RECEIPT_COLUMNS: &str =
    "id, customer, purpose, notice_version, given, ts_ms, channel, collector, text_sha256, kinds, given_by, language";

fn read_receipt(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConsentRecord> {
    Ok(ConsentRecord {
        id: r.get(0)?,
        customer: customer_id(r.get(1)?)?,
        purpose: r.get(2)?,
        notice_version: r.get(3)?,
        given: r.get(4)?,
        ts_ms: r.get(5)?,
        channel: r.get(6)?,
        collector: r.get(7)?,
        text_sha256: r.get(8)?,
        kinds: super::split_list(r.get(9)?),
        given_by: r.get(10)?,
        language: r.get(11)?,
    })
}

pub(super) fn notices(c: &Connection) -> Result<Vec<NoticeRecord>, StoreError> {
    let mut st = c
        .prepare_cached("SELECT version, toml, published_ms, published_by FROM notices ORDER BY version")
        .map_err(db_err)?;
    let rows = st
        .query_map([], |r| {
            Ok(NoticeRecord {
                version: r.get(0)?,
                toml: r.get(1)?,
                published_ms: r.get(2)?,
                published_by: r.get(3)?,
            })
        })
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(super) fn consents(c: &Connection, customer: &CustomerId) -> Result<Vec<ConsentRecord>, StoreError> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {RECEIPT_COLUMNS} FROM consent_receipts WHERE customer = ?1 ORDER BY seq"
        ))
        .map_err(db_err)?;
    let rows = st
        .query_map([customer.as_bytes().to_vec()], read_receipt)
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(super) fn consent_receipt(c: &Connection, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
    c.prepare_cached(&format!("SELECT {RECEIPT_COLUMNS} FROM consent_receipts WHERE id = ?1"))
        .map_err(db_err)?
        .query_row([id], read_receipt)
        .optional()
        .map_err(db_err)
}

pub(super) fn consent_tallies(c: &Connection) -> Result<Vec<ConsentTally>, StoreError> {
    // The latest receipt of each (customer, purpose) is the one in force.
    let mut st = c
        .prepare_cached(
            "SELECT r.purpose, r.notice_version, r.given, count(*) FROM consent_receipts r
             JOIN (SELECT max(seq) AS seq FROM consent_receipts GROUP BY customer, purpose) l ON l.seq = r.seq
             GROUP BY r.purpose, r.notice_version, r.given ORDER BY r.purpose, r.notice_version, r.given DESC",
        )
        .map_err(db_err)?;
    let rows = st
        .query_map([], |r| {
            Ok(ConsentTally {
                purpose: r.get(0)?,
                notice_version: r.get(1)?,
                given: r.get(2)?,
                customers: r.get::<_, i64>(3)? as u64,
            })
        })
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(super) fn portal_token(c: &Connection, digest: &[u8]) -> Result<Option<PortalTokenRecord>, StoreError> {
    c.prepare_cached(
        "SELECT digest, customer, kind, csrf, created_ms, expires_ms, used, issued_by FROM portal_tokens WHERE digest = ?1",
    )
    .map_err(db_err)?
    .query_row([digest], |r| {
        Ok(PortalTokenRecord {
            digest: r.get(0)?,
            customer: customer_id(r.get(1)?)?,
            kind: r.get(2)?,
            csrf: r.get(3)?,
            created_ms: r.get(4)?,
            expires_ms: r.get(5)?,
            used: r.get(6)?,
            issued_by: r.get(7)?,
        })
    })
    .optional()
    .map_err(db_err)
}
