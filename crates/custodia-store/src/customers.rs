//! Customer records: the sealed rows with their blind-index columns, read
//! and written once for both stores.

use crate::codes::Codes;
use crate::sql::{args, read, Arg, Db, Row, Sql, ToArg};
use crate::{Applied, Store, StoreError, StoredCustomer};
use custodia_core::{CustomerId, FieldName};

/// A customer row (`codes.sql.select` columns) as stored.
pub(crate) fn read_customer(r: &mut Row, codes: &Codes) -> Result<StoredCustomer, StoreError> {
    let mut blind = Vec::new();
    for (i, (_, name)) in codes.list.iter().enumerate() {
        if let Some(h) = r.opt_int(12 + i)? {
            blind.push((name.clone(), h));
        }
    }
    Ok(StoredCustomer {
        id: r.customer(1)?,
        external_id: r.opt_text(2)?,
        version: r.int(3)?,
        kek_version: r.u32(4)?,
        dk_version: r.u32(5)?,
        wrapped_dk: r.bytes(6)?,
        sealed: r.bytes(7)?,
        attrs: r.text(8)?,
        blind,
        created_ms: r.int(9)?,
        updated_ms: r.int(10)?,
        flags: r.u32(11)?,
    })
}

fn select(db: &mut Db<'_>, tail: &str, a: &[Arg<'_>]) -> Result<Vec<StoredCustomer>, StoreError> {
    let sql = format!("SELECT {} FROM customers {tail}", db.codes.sql.select);
    let codes = db.codes;
    db.many(&sql, a, |r| read_customer(r, codes))
}

/// Customers after `after` (by insertion order), at most `limit`, with
/// the last position seen; only those sealed under a key older than `kek`
/// when given.
fn scan_where(
    db: &mut Db<'_>,
    kek: Option<u32>,
    after: i64,
    limit: usize,
) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let tail = match kek {
        None => "WHERE seq > $1 ORDER BY seq LIMIT $2",
        Some(_) => "WHERE seq > $1 AND kek_version < $2 ORDER BY seq LIMIT $3",
    };
    let sql = format!("SELECT {} FROM customers {tail}", db.codes.sql.select);
    let codes = db.codes;
    let mut last = after;
    let mut out = Vec::new();
    let mut each = |r: &mut Row| {
        last = r.int(0)?;
        out.push(read_customer(r, codes)?);
        Ok(())
    };
    match kek {
        None => db.sql.each(&sql, &args![after, limit], &mut each)?,
        Some(k) => db.sql.each(&sql, &args![after, k, limit], &mut each)?,
    };
    Ok((out, last))
}

/// Reading customer records (every store).
pub trait CustomerStore {
    /// One customer by id.
    fn get(&self, id: &CustomerId) -> Result<Option<StoredCustomer>, StoreError>;
    /// Customers whose blind index for `field` is `hash`.
    fn find_blind(&self, field: &FieldName, hash: i64) -> Result<Vec<StoredCustomer>, StoreError>;
    /// Customers after position `after`, at most `limit`, and the last
    /// position returned (for the next page).
    fn scan(&self, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError>;
    /// Like [`CustomerStore::scan`], only customers whose data key is
    /// wrapped under a key-encryption key older than `kek`.
    fn scan_kek_below(&self, kek: u32, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError>;
    /// (customers, customers under a key older than `kek`).
    fn counts(&self, kek: u32) -> Result<(u64, u64), StoreError>;
    /// A value of the store's own metadata.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl<S: Store + ?Sized> CustomerStore for S {
    fn get(&self, id: &CustomerId) -> Result<Option<StoredCustomer>, StoreError> {
        read(self, |db| Ok(select(db, "WHERE id = $1", &args![id])?.pop()))
    }

    fn find_blind(&self, field: &FieldName, hash: i64) -> Result<Vec<StoredCustomer>, StoreError> {
        read(self, |db| {
            let Some(code) = db.codes.by_name.get(field.as_str()).copied() else {
                return Ok(Vec::new());
            };
            select(db, &format!("WHERE bi_{code} = $1"), &args![hash])
        })
    }

    fn scan(&self, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
        read(self, |db| scan_where(db, None, after, limit))
    }

    fn scan_kek_below(&self, kek: u32, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError> {
        read(self, |db| scan_where(db, Some(kek), after, limit))
    }

    fn counts(&self, kek: u32) -> Result<(u64, u64), StoreError> {
        read(self, |db| {
            db.one(
                "SELECT count(*), coalesce(sum(CASE WHEN kek_version < $1 THEN 1 ELSE 0 END), 0) FROM customers",
                &args![kek],
                |r| Ok((r.int(0)? as u64, r.int(1)? as u64)),
            )?
            .ok_or_else(|| StoreError::Database("count returned no row".into()))
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read(self, |db| {
            db.one("SELECT value FROM meta WHERE key = $1", &args![key], |r| r.bytes(0))
        })
    }
}

/// The parameters of a customer statement: `head`, the blind values,
/// then `tail` (see [`crate::codes::FieldCodes::statements`]).
fn with_blind<'a>(head: &[Arg<'a>], blind: &'a [Option<i64>], tail: &[Arg<'a>]) -> Vec<Arg<'a>> {
    let mut a = head.to_vec();
    a.extend(blind.iter().map(ToArg::arg));
    a.extend_from_slice(tail);
    a
}

/// Insert a customer unless the external id is taken.
pub(crate) fn insert(tx: &mut dyn Sql, codes: &Codes, cu: &StoredCustomer) -> Result<Applied, StoreError> {
    let blind = codes.values(&cu.blind)?;
    let head = args![
        cu.id,
        cu.external_id,
        cu.version,
        cu.kek_version,
        cu.dk_version,
        cu.wrapped_dk,
        cu.sealed,
        cu.attrs,
        cu.created_ms,
        cu.updated_ms
    ];
    if tx.exec(&codes.sql.insert, &with_blind(&head, &blind, &[]))? > 0 {
        return Ok(Applied::Done);
    }
    let id = tx
        .one(
            "SELECT id FROM customers WHERE external_id = $1",
            &args![cu.external_id],
            |r| r.customer(0),
        )?
        .ok_or_else(|| StoreError::Database("insert skipped but no record has its external id".into()))?;
    Ok(Applied::ExternalIdExists(id))
}

/// Replace a customer's content if its version is still `cu.version`.
pub(crate) fn update(tx: &mut dyn Sql, codes: &Codes, cu: &StoredCustomer) -> Result<Applied, StoreError> {
    let blind = codes.values(&cu.blind)?;
    let head = args![cu.dk_version, cu.sealed, cu.attrs, cu.updated_ms];
    if tx.exec(&codes.sql.update, &with_blind(&head, &blind, &args![cu.id, cu.version]))? > 0 {
        return Ok(Applied::Done);
    }
    Ok(
        match tx.one("SELECT version FROM customers WHERE id = $1", &args![cu.id], |r| {
            r.int(0)
        })? {
            None => Applied::NotFound,
            Some(v) => Applied::VersionConflict(v),
        },
    )
}

/// Replace content and the wrapped data key (a partial erasure re-keys
/// what it keeps); false when the record is gone or changed.
pub(crate) fn rekey(tx: &mut dyn Sql, codes: &Codes, cu: &StoredCustomer) -> Result<bool, StoreError> {
    let blind = codes.values(&cu.blind)?;
    let head = args![
        cu.dk_version,
        cu.sealed,
        cu.attrs,
        cu.updated_ms,
        cu.kek_version,
        cu.wrapped_dk
    ];
    Ok(tx.exec(&codes.sql.rekey, &with_blind(&head, &blind, &args![cu.id, cu.version]))? > 0)
}

/// Whether the customer exists.
pub(crate) fn exists(tx: &mut dyn Sql, id: &CustomerId) -> Result<bool, StoreError> {
    tx.any("SELECT 1 FROM customers WHERE id = $1", &args![id])
}

pub(crate) fn delete(tx: &mut dyn Sql, id: &CustomerId) -> Result<Applied, StoreError> {
    Ok(match tx.exec("DELETE FROM customers WHERE id = $1", &args![id])? {
        0 => Applied::NotFound,
        _ => Applied::Done,
    })
}

pub(crate) fn rewrap(
    tx: &mut dyn Sql,
    id: &CustomerId,
    from: u32,
    to: u32,
    wrapped: &[u8],
) -> Result<Applied, StoreError> {
    let n = tx.exec(
        "UPDATE customers SET kek_version = $1, wrapped_dk = $2 WHERE id = $3 AND kek_version = $4",
        &args![to, wrapped, id, from],
    )?;
    Ok(if n == 1 {
        Applied::Done
    } else {
        Applied::AlreadyRewrapped
    })
}

pub(crate) fn set_flags(tx: &mut dyn Sql, id: &CustomerId, flags: u32) -> Result<Applied, StoreError> {
    Ok(
        match tx.exec("UPDATE customers SET flags = $1 WHERE id = $2", &args![flags, id])? {
            0 => Applied::NotFound,
            _ => Applied::Done,
        },
    )
}

/// Drop the blind indexes before loading an empty store (NotFound when it
/// is not empty); [`end_bulk_load`] builds them again.
pub(crate) fn begin_bulk_load(tx: &mut dyn Sql, codes: &Codes) -> Result<Applied, StoreError> {
    if tx.any("SELECT 1 FROM customers LIMIT 1", &[])? {
        return Ok(Applied::NotFound);
    }
    for (code, _) in &codes.list {
        tx.batch(&format!("DROP INDEX IF EXISTS customers_bi_{code}"))?;
    }
    // The audit log's search indexes too: each loaded customer is an
    // event, and one sorted build at the end beats a million inserts.
    tx.batch(crate::audit_search::DROP_INDEXES)?;
    Ok(Applied::Done)
}

/// Create the blind indexes that do not exist (after a bulk load, or at
/// open after a crash during one).
pub(crate) fn end_bulk_load(tx: &mut dyn Sql, list: &[(i64, FieldName)]) -> Result<Applied, StoreError> {
    for (code, _) in list {
        tx.batch(&format!(
            "CREATE INDEX IF NOT EXISTS customers_bi_{code} ON customers (bi_{code}) WHERE bi_{code} IS NOT NULL"
        ))?;
    }
    tx.batch(crate::audit_search::INDEXES)?;
    Ok(Applied::Done)
}

pub(crate) fn set_meta(tx: &mut dyn Sql, key: &str, value: &[u8]) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &args![key, value],
    )?;
    Ok(Applied::Done)
}
