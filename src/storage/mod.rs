//! D1 access: the only place with SQL. Parameters are always bound; multi-row writes go through one
//! `batch()` (a single transaction in D1). No statement binds more than [`MAX_PARAMS`] parameters.
//!
//! D1 client API: <https://developers.cloudflare.com/d1/worker-api/>.

pub mod canned;
pub mod crm;
pub mod cs;
pub mod customers;
pub mod drafts;
pub mod mail;
pub mod mailboxes;
pub mod meta;
pub mod reports;
pub mod staff;
pub mod support;
pub mod tickets;

use crate::error::{AppError, AppResult};
use serde::de::DeserializeOwned;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// D1's limit on bound parameters per statement.
pub const MAX_PARAMS: usize = 100;

/// A bindable value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL `NULL`.
    Null,
    /// An integer, bound as a JS number (exact up to 2^53).
    Int(i64),
    /// A string.
    Text(String),
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_string())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Self {
        Val::Text(s.clone())
    }
}
impl From<i64> for Val {
    fn from(n: i64) -> Self {
        Val::Int(n)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Self {
        Val::Int(b as i64)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(o: Option<T>) -> Self {
        o.map_or(Val::Null, Into::into)
    }
}

impl From<&Val> for JsValue {
    fn from(v: &Val) -> JsValue {
        match v {
            Val::Null => JsValue::NULL,
            Val::Int(n) => JsValue::from_f64(*n as f64),
            Val::Text(s) => JsValue::from_str(s),
        }
    }
}

/// Builds a `Vec<Val>` from mixed values: `params![id, Some(name), 3_i64]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::storage::Val::from($v)),*] };
}

/// How much D1 work an invocation did: calls (round trips) and statements (a batch counts each).
#[derive(Debug, Default)]
pub struct D1Usage {
    /// Round trips: each `all`/`first`/`run`, and each `batch` once.
    pub calls: Cell<u32>,
    /// SQL statements: one per query, the length of each batch.
    pub statements: Cell<u32>,
}

/// The D1 database with usage counting (clones share the binding and the counters).
#[derive(Clone)]
pub struct Db {
    inner: Rc<D1Database>,
    /// This handle's counters.
    pub usage: Rc<D1Usage>,
}

impl Db {
    /// Wraps a D1 binding (`env.d1("DB")`) with fresh usage counters.
    pub fn new(inner: D1Database) -> Self {
        let inner = Rc::new(inner);
        Db {
            inner,
            usage: Rc::default(),
        }
    }

    /// A prepared statement with its parameters bound.
    pub fn stmt(&self, sql: &str, params: Vec<Val>) -> AppResult<D1PreparedStatement> {
        debug_assert!(
            params.len() <= MAX_PARAMS,
            "too many parameters for D1: {sql}"
        );
        let values: Vec<JsValue> = params.iter().map(JsValue::from).collect();
        Ok(self.inner.prepare(sql).bind(&values)?)
    }

    fn count(&self, statements: usize) {
        self.usage.calls.set(self.usage.calls.get() + 1);
        self.usage
            .statements
            .set(self.usage.statements.get() + statements as u32);
    }

    /// All rows of a query.
    pub async fn all<T: DeserializeOwned>(&self, sql: &str, params: Vec<Val>) -> AppResult<Vec<T>> {
        let s = self.stmt(sql, params)?;
        self.count(1);
        let r = s.all().await.map_err(|e| db_error(sql, e))?;
        Ok(r.results::<T>()?)
    }

    /// The first row of a query, if any.
    pub async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: Vec<Val>,
    ) -> AppResult<Option<T>> {
        Ok(self.all(sql, params).await?.into_iter().next())
    }

    /// Runs a write and returns how many rows it changed.
    pub async fn run(&self, sql: &str, params: Vec<Val>) -> AppResult<usize> {
        let s = self.stmt(sql, params)?;
        self.count(1);
        let r = s.run().await.map_err(|e| db_error(sql, e))?;
        Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0))
    }

    /// Runs statements as one transaction: all of them or none.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> AppResult<()> {
        if statements.is_empty() {
            return Ok(());
        }
        self.count(statements.len());
        self.inner
            .batch(statements)
            .await
            .map_err(|e| db_error("batch", e))?;
        Ok(())
    }
}

/// A D1 failure as one line: the statement's start and SQLite's message (the `Error: …` line D1 reports).
fn db_error(sql: &str, e: worker::Error) -> AppError {
    let head: String = sql
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(60)
        .collect();
    let text = e.to_string();
    let cause = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .unwrap_or(text.lines().next().unwrap_or(""))
        .trim()
        .to_string();
    AppError::Internal(format!("D1 ({head}): {cause}"))
}

/// `?, ?, ?` for an `IN (…)` list of `n` values.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Splits values into chunks that fit a statement next to `fixed` other parameters.
pub fn chunks<T: Clone>(values: &[T], fixed: usize) -> Vec<Vec<T>> {
    values
        .chunks(MAX_PARAMS - fixed)
        .map(<[T]>::to_vec)
        .collect()
}
