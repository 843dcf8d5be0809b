//! Moving an embedded (SQLite) database into an empty PostgreSQL database,
//! row for row: the same ids, sequence numbers, field codes, ciphertexts and
//! audit MACs, so the audit chain verifies unchanged on the target.
//!
//! The source is read inside one read transaction (a consistent snapshot
//! even while a server writes to it); each table is streamed with binary
//! `COPY` and its row count compared. A target that holds anything is
//! refused.

use crate::pg::{self, Conn};
use crate::StoreError;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::types::Value;
use std::path::Path;

/// What a migration copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Rows per table (source and target agree).
    pub tables: Vec<(String, u64)>,
    /// All rows.
    pub rows: u64,
}

fn sq(e: rusqlite::Error) -> StoreError {
    StoreError::Database(format!("source database: {e}"))
}

/// Rows in every table of the source, for a progress total.
pub fn count_rows(src: &Path) -> Result<u64, StoreError> {
    let c = open_source(src)?;
    let mut n = 0u64;
    for t in crate::schema::tables() {
        n += c
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0))
            .map_err(sq)? as u64;
    }
    Ok(n)
}

fn open_source(src: &Path) -> Result<rusqlite::Connection, StoreError> {
    if !src.is_file() {
        return Err(StoreError::Database(format!(
            "{} is not an embedded database",
            src.display()
        )));
    }
    rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sq)
}

/// Copy the SQLite database at `src` into the empty PostgreSQL database at
/// `url`; `advance` is called with the number of rows copied as they go.
pub fn sqlite_to_postgres(src: &Path, url: &str, advance: &dyn Fn(u64)) -> Result<MigrateReport, StoreError> {
    let s = open_source(src)?;
    s.execute_batch("BEGIN").map_err(sq)?;
    let mut t = pg::Target::parse(url)?.conn()?;
    refuse_non_empty(&mut t)?;
    pg::ensure_schema(&mut t)?;
    t.batch("BEGIN")?;
    let out = (|| {
        // Tables and the layout record, no field codes yet: they come from the source.
        pg::setup_in_transaction(&mut t, &[])?;
        let mut report = MigrateReport::default();
        for table in crate::schema::tables() {
            if table == "customers" {
                // One blind-index column per searchable field, as in the source.
                let (list, _) = crate::schema::field_codes(&mut t)?;
                for (code, _) in &list {
                    t.batch(&format!(
                        "ALTER TABLE customers ADD COLUMN IF NOT EXISTS bi_{code} bigint"
                    ))?;
                }
            }
            let n = copy_table(&s, &mut t, table, advance)?;
            let copied: i64 = pg::get(
                &t.row(&format!("SELECT count(*) FROM {table}"), &[])?
                    .ok_or_else(|| StoreError::Database("no count".into()))?,
                0,
            )?;
            // The target's own layout record is one more row of meta.
            let want = n + u64::from(table == "meta");
            if copied as u64 != want {
                return Err(StoreError::Database(format!(
                    "{table}: copied {copied} rows of {n}; nothing was committed"
                )));
            }
            report.tables.push((table.to_string(), n));
            report.rows += n;
        }
        for (table, col) in crate::schema::serials() {
            t.batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{col}'), coalesce((SELECT max({col}) FROM {table}), 0) + 1, false)"
            ))?;
        }
        let (list, _) = crate::schema::field_codes(&mut t)?;
        crate::customers::end_bulk_load(&mut t, &list)?;
        Ok(report)
    })();
    let _ = s.execute_batch("COMMIT");
    match out {
        Ok(r) => {
            t.batch("COMMIT")?;
            t.batch("ANALYZE")?;
            Ok(r)
        }
        Err(e) => {
            let _ = t.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn refuse_non_empty(t: &mut Conn) -> Result<(), StoreError> {
    let tables: i64 = pg::get(
        &t.row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1)",
            &[&crate::schema::tables()],
        )?
        .ok_or_else(|| StoreError::Database("no count".into()))?,
        0,
    )?;
    if tables == 0 {
        return Ok(());
    }
    for table in ["meta", "customers", "audit"] {
        let exists = t
            .row(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
                &[&table],
            )?
            .is_some();
        if exists && t.row(&format!("SELECT 1 FROM {table} LIMIT 1"), &[])?.is_some() {
            return Err(StoreError::Database(format!(
                "the target database is not empty (table {table} has rows); migrate only into an empty database"
            )));
        }
    }
    Ok(())
}

/// The target's column types of `table`, in the source's column order.
fn target_types(t: &mut Conn, table: &str, cols: &[String]) -> Result<Vec<Type>, StoreError> {
    let rows = t.rows(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1",
        &[&table],
    )?;
    let mut types = std::collections::HashMap::new();
    for r in &rows {
        let (name, ty): (String, String) = (pg::get(r, 0)?, pg::get(r, 1)?);
        let ty = match ty.as_str() {
            "bigint" => Type::INT8,
            "integer" => Type::INT4,
            "boolean" => Type::BOOL,
            "text" => Type::TEXT,
            "bytea" => Type::BYTEA,
            other => return Err(StoreError::Database(format!("{table}.{name}: unexpected type {other}"))),
        };
        types.insert(name, ty);
    }
    cols.iter()
        .map(|c| {
            types
                .get(c)
                .cloned()
                .ok_or_else(|| StoreError::Database(format!("{table}.{c}: no such column in the target")))
        })
        .collect()
}

/// A source value as the target column's type.
fn convert(table: &str, col: &str, v: Value, ty: &Type) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    let bad = |v: &Value| StoreError::Corrupt(format!("{table}.{col}: {:?} does not fit {ty}", v.data_type()));
    Ok(match (v, ty) {
        (Value::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Value::Null, t) if *t == Type::INT4 => Box::new(None::<i32>),
        (Value::Null, t) if *t == Type::BOOL => Box::new(None::<bool>),
        (Value::Null, t) if *t == Type::TEXT => Box::new(None::<String>),
        (Value::Null, _) => Box::new(None::<Vec<u8>>),
        (Value::Integer(i), t) if *t == Type::INT8 => Box::new(i),
        (Value::Integer(i), t) if *t == Type::INT4 => Box::new(i32::try_from(i).map_err(|_| bad(&Value::Integer(i)))?),
        (Value::Integer(i), t) if *t == Type::BOOL => Box::new(i != 0),
        (Value::Text(s), t) if *t == Type::TEXT => Box::new(s),
        (Value::Blob(b), t) if *t == Type::BYTEA => Box::new(b),
        // meta values and the like written as text by older code.
        (Value::Text(s), t) if *t == Type::BYTEA => Box::new(s.into_bytes()),
        (v, _) => return Err(bad(&v)),
    })
}

fn copy_table(s: &rusqlite::Connection, t: &mut Conn, table: &str, advance: &dyn Fn(u64)) -> Result<u64, StoreError> {
    let src_cols: Vec<String> = s
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .map_err(sq)?
        .query_map([], |r| r.get(0))
        .map_err(sq)?
        .collect::<Result<_, _>>()
        .map_err(sq)?;
    // The audit field list is one dynamically typed column in SQLite and
    // two typed ones here.
    let mut cols = Vec::with_capacity(src_cols.len() + 1);
    for c in &src_cols {
        cols.push(c.clone());
        if table == "audit" && c == "fields" {
            cols.push("field_names".into());
        }
    }
    let types = target_types(t, table, &cols)?;
    let skip_layout = table == "meta";
    let mut st = s
        .prepare(&format!("SELECT {} FROM {table}", src_cols.join(", ")))
        .map_err(sq)?;
    let mut rows = st.query([]).map_err(sq)?;
    let sink = t
        .client()
        .copy_in(&format!("COPY {table} ({}) FROM STDIN BINARY", cols.join(", ")))
        .map_err(pg::pg_err)?;
    let mut w = BinaryCopyInWriter::new(sink, &types);
    let mut n = 0u64;
    let mut pending = 0u64;
    while let Some(r) = rows.next().map_err(sq)? {
        let mut vals: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(cols.len());
        let mut layout = false;
        for (i, col) in src_cols.iter().enumerate() {
            let v: Value = r.get(i).map_err(sq)?;
            if skip_layout && i == 0 && matches!(&v, Value::Text(k) if k == "layout") {
                layout = true;
            }
            if table == "audit" && col == "fields" {
                match v {
                    Value::Text(names) => {
                        vals.push(Box::new(None::<Vec<u8>>));
                        vals.push(Box::new(Some(names)));
                    }
                    Value::Blob(b) => {
                        vals.push(Box::new(Some(b)));
                        vals.push(Box::new(None::<String>));
                    }
                    other => return Err(StoreError::Corrupt(format!("audit.fields: {:?}", other.data_type()))),
                }
                continue;
            }
            vals.push(convert(table, col, v, &types[vals.len()])?);
        }
        if layout {
            // The target records its own layout version.
            continue;
        }
        let refs: Vec<&(dyn ToSql + Sync)> = vals.iter().map(|b| b.as_ref()).collect();
        w.write(&refs).map_err(pg::pg_err)?;
        n += 1;
        pending += 1;
        if pending == 10_000 {
            advance(pending);
            pending = 0;
        }
    }
    w.finish().map_err(pg::pg_err)?;
    advance(pending);
    Ok(n)
}
