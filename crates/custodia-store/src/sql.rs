//! One body of SQL for both stores.
//!
//! Every statement that SQLite and PostgreSQL both understand is written
//! once, in the concern modules ([`crate::customers`], [`crate::access`],
//! [`crate::privacy`], [`crate::rights`]), against the small `Sql`
//! interface here. The two stores implement it for their connections and
//! keep only what really differs: how the audit chain is appended, the
//! bulk insert PostgreSQL does with arrays, setup and snapshots.
//!
//! The shared dialect:
//! * parameters are `$1`, `$2`, … (PostgreSQL binds them by number; the
//!   SQLite side binds each `$N` name to argument N, and refuses a
//!   statement whose names and arguments do not match);
//! * `true`/`false`, `NOT x`, `CAST(… AS text)`, `CASE`, `ON CONFLICT … DO`
//!   mean the same in both;
//! * values cross as five kinds (`Arg` in, `Value` out), and each side
//!   converts to the column's own type (PostgreSQL `int4`, `int8`, `bool`
//!   from an integer or a boolean), so no statement needs a cast for it.

use crate::StoreError;
use custodia_core::CustomerId;
use std::sync::Arc;

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arg<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// What can be bound as a parameter.
pub(crate) trait ToArg {
    fn arg(&self) -> Arg<'_>;
}

impl ToArg for i64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}
impl ToArg for u32 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}
impl ToArg for bool {
    fn arg(&self) -> Arg<'_> {
        Arg::Bool(*self)
    }
}
impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for [u8] {
    fn arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}
impl ToArg for Vec<u8> {
    fn arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}
impl ToArg for CustomerId {
    fn arg(&self) -> Arg<'_> {
        Arg::Bytes(self.as_bytes())
    }
}
impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        match self {
            None => Arg::Null,
            Some(v) => v.arg(),
        }
    }
}
/// Enums stored by their stable name.
macro_rules! named {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn arg(&self) -> Arg<'_> {
                Arg::Text(self.as_str())
            }
        }
    )*};
}
named!(
    custodia_core::accounts::AccountKind,
    custodia_core::accounts::LinkKind,
    custodia_core::accounts::ApprovalKind,
    custodia_core::accounts::ApprovalState
);

impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}
impl<T: ToArg + ?Sized> ToArg for Box<T> {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}

/// The parameters of a statement: `args![a, b, c]`.
macro_rules! args {
    ($($e:expr),* $(,)?) => {
        [$($crate::sql::ToArg::arg(&$e)),*]
    };
}
pub(crate) use args;

/// A column value as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
        }
    }
}

/// One row of a result. Each column is read once (reading moves the value
/// out); a value of the wrong kind is an error naming the column.
#[derive(Debug)]
pub(crate) struct Row {
    /// The result's column names joined by ',', shared by its rows (one
    /// allocation a query; only an error reads them).
    names: Arc<str>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(names: Arc<str>, values: Vec<Value>) -> Row {
        Row { names, values }
    }

    /// The values, to refill for the next row.
    pub(crate) fn values_mut(&mut self) -> &mut Vec<Value> {
        &mut self.values
    }

    fn name(&self, i: usize) -> &str {
        self.names.split(',').nth(i).unwrap_or("?")
    }

    fn take(&mut self, i: usize) -> Result<Value, StoreError> {
        match self.values.get_mut(i) {
            Some(v) => Ok(std::mem::replace(v, Value::Null)),
            None => Err(StoreError::Database(format!("a result has no column {i}"))),
        }
    }

    fn wrong(&self, i: usize, want: &str, got: &Value) -> StoreError {
        StoreError::Corrupt(format!(
            "column {}: expected {want}, found {}",
            self.name(i),
            got.kind()
        ))
    }

    /// An integer column that may be NULL.
    pub(crate) fn opt_int(&mut self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.take(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(v)),
            Value::Bool(b) => Ok(Some(i64::from(b))),
            other => Err(self.wrong(i, "an integer", &other)),
        }
    }

    /// An integer column.
    pub(crate) fn int(&mut self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| self.wrong(i, "an integer", &Value::Null))
    }

    /// An integer column that fits in 32 bits, unsigned.
    pub(crate) fn u32(&mut self, i: usize) -> Result<u32, StoreError> {
        let v = self.int(i)?;
        u32::try_from(v).map_err(|_| self.wrong(i, "a 32-bit count", &Value::Int(v)))
    }

    /// A boolean column (SQLite keeps booleans as 0 and 1).
    pub(crate) fn bool(&mut self, i: usize) -> Result<bool, StoreError> {
        match self.take(i)? {
            Value::Bool(b) => Ok(b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            other => Err(self.wrong(i, "a boolean", &other)),
        }
    }

    /// A text column that may be NULL.
    pub(crate) fn opt_text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.take(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            other => Err(self.wrong(i, "text", &other)),
        }
    }

    /// A text column.
    pub(crate) fn text(&mut self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?.ok_or_else(|| self.wrong(i, "text", &Value::Null))
    }

    /// A text column holding one of an enum's stable names: a name this
    /// build does not know is an error naming the column and the value,
    /// never a default.
    pub(crate) fn parsed<T>(&mut self, i: usize, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
        let s = self.text(i)?;
        parse(&s).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {}: {s:?} is not a value this build knows",
                self.name(i)
            ))
        })
    }

    /// A comma-separated list kept as text.
    pub(crate) fn list(&mut self, i: usize) -> Result<Vec<String>, StoreError> {
        Ok(crate::codes::split_list(self.text(i)?))
    }

    /// A bytes column that may be NULL.
    pub(crate) fn opt_bytes(&mut self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.take(i)? {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b)),
            other => Err(self.wrong(i, "bytes", &other)),
        }
    }

    /// A bytes column.
    pub(crate) fn bytes(&mut self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(i)?.ok_or_else(|| self.wrong(i, "bytes", &Value::Null))
    }

    /// A customer id that may be NULL (16 bytes).
    pub(crate) fn opt_customer(&mut self, i: usize) -> Result<Option<CustomerId>, StoreError> {
        match self.opt_bytes(i)? {
            None => Ok(None),
            Some(b) => {
                let a: [u8; 16] = b.try_into().map_err(|b: Vec<u8>| {
                    StoreError::Corrupt(format!(
                        "column {}: a customer id of {} bytes, not 16",
                        self.name(i),
                        b.len()
                    ))
                })?;
                Ok(Some(CustomerId::from_bytes(a)))
            }
        }
    }

    /// A customer id (16 bytes).
    pub(crate) fn customer(&mut self, i: usize) -> Result<CustomerId, StoreError> {
        self.opt_customer(i)?
            .ok_or_else(|| self.wrong(i, "a customer id", &Value::Null))
    }
}

/// A connection in either dialect, inside the store's transaction when it
/// writes.
pub(crate) trait Sql {
    /// Run a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// Run a query and hand each row to `f` in turn (one [`Row`] refilled
    /// for every row, so a long scan allocates no row of its own).
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: &mut dyn FnMut(&mut Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Run statements without parameters (DDL).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
}

impl dyn Sql + '_ {
    /// The first row, mapped by `f`, if any.
    pub(crate) fn one<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&mut Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, args, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every row, each mapped by `f`.
    pub(crate) fn many<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        mut f: impl FnMut(&mut Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.each(sql, args, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Whether the query returns a row.
    pub(crate) fn any(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<bool, StoreError> {
        Ok(self.one(sql, args, |_| Ok(()))?.is_some())
    }
}

/// A reading connection with the database's field codes, handed to the
/// shared reads by [`crate::Store::read`].
pub struct Db<'a> {
    pub(crate) sql: &'a mut dyn Sql,
    pub(crate) codes: &'a crate::codes::Codes,
}

impl Db<'_> {
    /// The first row of `sql`, mapped by `f`.
    pub(crate) fn one<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&mut Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.sql.one(sql, args, f)
    }

    /// Every row of `sql`, mapped by `f`.
    pub(crate) fn many<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnMut(&mut Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.sql.many(sql, args, f)
    }
}

/// Run `f` on a reading connection of `store` and return what it returns.
pub(crate) fn read<S: crate::Store + ?Sized, T>(
    store: &S,
    mut f: impl FnMut(&mut Db<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    store.read(&mut |db| {
        out = Some(f(db)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Database("a read returned nothing".into()))
}

/// Bind each of a statement's parameters to the argument its `$N` name
/// numbers (SQLite numbers `$N` names by first appearance, so the adapter
/// binds them by name; PostgreSQL binds by number): `bind(i, k)` binds
/// parameter `i` (from 1) to argument `k` (from 0). A parameter named
/// otherwise, a number past the arguments, or an argument no parameter uses
/// is an error, never a wrong binding.
pub(crate) fn bind_by_number<'a>(
    names: impl Iterator<Item = Option<&'a str>>,
    args: usize,
    mut bind: impl FnMut(usize, usize) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if args > 128 {
        return Err(StoreError::Database(format!("a statement with {args} parameters")));
    }
    let mut used = 0u128;
    for (i, name) in names.enumerate() {
        let k = name
            .and_then(|n| n.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|k| (1..=args).contains(k))
            .ok_or_else(|| {
                StoreError::Database(format!(
                    "statement parameter {} is {:?}, not one of $1 to ${args}",
                    i + 1,
                    name.unwrap_or_default()
                ))
            })?;
        used |= 1 << (k - 1);
        bind(i + 1, k - 1)?;
    }
    let all = if args == 128 { u128::MAX } else { (1u128 << args) - 1 };
    if used != all {
        return Err(StoreError::Database(format!(
            "a statement was given ${} but does not use it",
            (!used & all).trailing_zeros() + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_the_column_that_does_not_parse() {
        let names: Arc<str> = "status,n".into();
        let mut r = Row::new(names.clone(), vec![Value::Int(3), Value::Text("x".into())]);
        let e = r.text(0).unwrap_err().to_string();
        assert!(e.contains("column status") && e.contains("expected text"), "{e}");
        let e = r.int(1).unwrap_err().to_string();
        assert!(e.contains("column n"), "{e}");
        let mut r = Row::new(names.clone(), vec![Value::Int(2), Value::Bytes(vec![1; 15])]);
        assert!(r.bool(0).is_err(), "2 is not a boolean");
        assert!(r.customer(1).unwrap_err().to_string().contains("15 bytes"));
        let mut r = Row::new(
            names.clone(),
            vec![Value::Text("robot".into()), Value::Text("staff".into())],
        );
        let e = r
            .parsed(0, custodia_core::accounts::AccountKind::parse)
            .unwrap_err()
            .to_string();
        assert!(e.contains("column status") && e.contains("\"robot\""), "{e}");
        assert_eq!(
            r.parsed(1, custodia_core::accounts::AccountKind::parse).unwrap(),
            custodia_core::accounts::AccountKind::Staff
        );
        let mut r = Row::new(names, vec![Value::Int(1), Value::Null]);
        assert!(r.bool(0).unwrap());
        assert!(r.text(1).is_err(), "NULL where a value is required");
    }

    #[test]
    fn parameters_bind_by_their_number_and_every_argument_is_used() {
        let slots = |names: &[&str], n: usize| -> Result<Vec<(usize, usize)>, StoreError> {
            let mut out = Vec::new();
            bind_by_number(names.iter().map(|s| Some(*s)), n, |i, k| {
                out.push((i, k));
                Ok(())
            })
            .map(|_| out)
        };
        assert_eq!(slots(&["$1", "$2", "$3"], 3).unwrap(), [(1, 0), (2, 1), (3, 2)]);
        assert_eq!(slots(&["$2", "$1"], 2).unwrap(), [(1, 1), (2, 0)]);
        assert!(slots(&["$1", "$3"], 2).is_err(), "past the arguments");
        let e = slots(&["$1"], 2).unwrap_err().to_string();
        assert!(e.contains("$2"), "an argument unused: {e}");
        assert!(slots(&["?1"], 1).is_err());
        assert!(slots(&[":name"], 1).is_err());
        assert!(bind_by_number([None].into_iter(), 1, |_, _| Ok(())).is_err());
        assert!(slots(&[], 0).unwrap().is_empty());
    }

    #[test]
    fn args_take_every_stored_kind() {
        let id = CustomerId::from_bytes([7; 16]);
        let none: Option<String> = None;
        let (y, b) = ("y".to_owned(), vec![1u8, 2]);
        let a = args![5i64, 7u32, true, "x", y, b, id, none, Some(3i64)];
        assert_eq!(
            a,
            [
                Arg::Int(5),
                Arg::Int(7),
                Arg::Bool(true),
                Arg::Text("x"),
                Arg::Text("y"),
                Arg::Bytes(&[1, 2]),
                Arg::Bytes(&[7; 16]),
                Arg::Null,
                Arg::Int(3)
            ]
        );
    }
}
