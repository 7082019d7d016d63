//! A small builder for queries whose WHERE clause depends on the caller's
//! filters. It numbers `$n` placeholders itself because sqlx's QueryBuilder
//! cannot know the placeholder style of the `Any` driver.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Text(String),
    Bool(bool),
    Blob(Vec<u8>),
    /// A NULL in a column of numbers.
    NullInt,
    /// A NULL in a column of text.
    NullText,
}

impl Value {
    pub fn opt_int(v: Option<i64>) -> Value {
        v.map_or(Value::NullInt, Value::Int)
    }

    pub fn opt_text(v: Option<String>) -> Value {
        v.map_or(Value::NullText, Value::Text)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: Value) -> &mut Self {
        self.values.push(value);
        self.text.push_str(&format!("${}", self.values.len()));
        self
    }

    /// Appends `(…, …)` with one placeholder per id, for `IN` lists.
    pub fn bind_list(&mut self, ids: &[i64]) -> &mut Self {
        self.text.push('(');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(Value::Int(*id));
        }
        self.text.push(')');
        self
    }

    /// Appends a placeholder, or `NULL` for `None`.
    pub fn bind_opt(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.bind(Value::Int(v)),
            None => self.push("NULL"),
        }
    }

    /// Appends a placeholder for the text, or `NULL` for `None`.
    pub fn bind_opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.bind(Value::Text(v.to_string())),
            None => self.push("NULL"),
        }
    }

    /// Appends `(…, …)` with one placeholder per text, for `IN` lists.
    pub fn bind_texts<S: AsRef<str>>(&mut self, items: &[S]) -> &mut Self {
        self.text.push('(');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(Value::Text(s.as_ref().to_string()));
        }
        self.text.push(')');
        self
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Text(s) => q.bind(s.as_str()),
                Value::Bool(b) => q.bind(*b),
                Value::Blob(b) => q.bind(b.as_slice()),
                Value::NullInt => q.bind(None::<i64>),
                Value::NullText => q.bind(None::<String>),
            };
        }
        q
    }
}

/// Reads a flag: PostgreSQL hands back a boolean, SQLite an integer 0/1.
pub(crate) fn get_bool(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => row.try_get::<i64, _>(column).map(|v| v != 0),
    }
}

pub(crate) fn get_opt_bool(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<bool>, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<bool>, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => row
            .try_get::<Option<i64>, _>(column)
            .map(|v| v.map(|v| v != 0)),
    }
}
