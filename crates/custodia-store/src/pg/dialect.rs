//! PostgreSQL connections speaking the shared dialect of [`crate::sql`]:
//! each parameter is encoded as the type PostgreSQL inferred for it, and
//! each column is read by its declared type.

use super::read::ReadConn;
use super::{Conn, Query};
use crate::sql::{Arg, Row, Sql, Value};
use crate::StoreError;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        let mismatch = |what: &str| -> Result<IsNull, BoxError> { Err(format!("{what} for a {ty} parameter").into()) };
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                _ => mismatch("an integer"),
            },
            Arg::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                Type::INT8 => i64::from(b).to_sql(ty, out),
                Type::INT4 => i32::from(b).to_sql(ty, out),
                _ => mismatch("a boolean"),
            },
            Arg::Text(t) if <&str as ToSql>::accepts(ty) => t.to_sql(ty, out),
            Arg::Text(_) => mismatch("text"),
            Arg::Bytes(b) if <&[u8] as ToSql>::accepts(ty) => b.to_sql(ty, out),
            Arg::Bytes(_) => mismatch("bytes"),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// Fill `values` with a row's columns, each by its declared type.
fn fill(r: &postgres::Row, values: &mut Vec<Value>) -> Result<(), StoreError> {
    values.clear();
    for (i, col) in r.columns().iter().enumerate() {
        let bad = |e: postgres::Error| StoreError::Corrupt(format!("column {}: {e}", col.name()));
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i).map_err(bad)?.map(Value::Bool),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                r.try_get::<_, Option<String>>(i).map_err(bad)?.map(Value::Text)
            }
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i).map_err(bad)?.map(Value::Bytes),
            ref other => {
                return Err(StoreError::Corrupt(format!(
                    "column {}: type {other} is not one the store reads",
                    col.name()
                )))
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(())
}

/// Hand each of `found` to `f`, in one refilled [`Row`].
fn each(found: Vec<postgres::Row>, f: &mut dyn FnMut(&mut Row) -> Result<(), StoreError>) -> Result<(), StoreError> {
    let Some(first) = found.first() else {
        return Ok(());
    };
    let names: Vec<&str> = first.columns().iter().map(|c| c.name()).collect();
    let mut row = Row::new(names.join(",").into(), Vec::with_capacity(names.len()));
    for r in &found {
        fill(r, row.values_mut())?;
        f(&mut row)?;
    }
    Ok(())
}

impl Sql for Conn {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        Conn::exec(self, sql, &params(args))
    }
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&mut Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        each(Conn::rows(self, sql, &params(args))?, f)
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Conn::batch(self, sql)
    }
}

impl Sql for ReadConn {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        ReadConn::exec(self, sql, &params(args))
    }
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&mut Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        each(Query::rows(self, sql, &params(args))?, f)
    }
    fn batch(&mut self, _sql: &str) -> Result<(), StoreError> {
        Err(StoreError::Database("read connections do not change the layout".into()))
    }
}
