//! A reader over the parsed TOML document that keeps every value's position and collects every
//! problem instead of stopping at the first.
//!
//! serde's derive stops at the first unknown key or wrong type and does not say where in the tree
//! it was; this reader knows the dotted path of each value, reports all the keys it was not asked
//! about (listing the ones it was asked about as the valid keys at that level), and leaves the
//! semantic checks to the caller.

use super::error::Located;
use super::suggest;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A value with the byte offset where it starts and its dotted path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Val<T> {
    pub value: T,
    pub at: usize,
    pub path: String,
}

/// Where problems and warnings collect while reading.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub problems: Vec<Located>,
    pub warnings: Vec<Located>,
}

impl Sink {
    pub fn problem(&mut self, at: usize, key: &str, message: impl Into<String>) {
        self.problems.push(Located { at, key: key.to_string(), message: message.into() });
    }

    pub fn warning(&mut self, at: usize, key: &str, message: impl Into<String>) {
        self.warnings.push(Located { at, key: key.to_string(), message: message.into() });
    }
}

/// One table of the document, with the keys asked of it so far.
pub(crate) struct Section<'a, 'i> {
    /// Dotted path of the table; empty for the document root.
    path: String,
    /// Where the table is, for messages: `in [env]`, `in [[fleet]]`, `at the top level`.
    title: String,
    /// Where the table starts (its header), for "missing key" problems.
    at: usize,
    table: &'a DeTable<'i>,
    asked: Vec<&'static str>,
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl<'a, 'i> Section<'a, 'i> {
    pub fn root(doc: &'a Spanned<DeTable<'i>>) -> Self {
        Section {
            path: String::new(),
            title: "at the top level".into(),
            at: 0,
            table: doc.get_ref(),
            asked: Vec::new(),
        }
    }

    pub fn at(&self) -> usize {
        self.at
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn lookup(&mut self, key: &'static str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.asked.push(key);
        self.table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
    }

    /// The value of `key` converted by `convert`, which names what it expected when the value is of
    /// another type. A missing key is a problem only when `required` says what would be valid.
    fn get<T>(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        required: Option<&str>,
        convert: impl Fn(&'a DeValue<'i>) -> Result<T, &'static str>,
    ) -> Option<Val<T>> {
        let path = self.key_path(key);
        let Some(v) = self.lookup(key) else {
            if let Some(valid) = required {
                sink.problem(self.at, &path, format!("missing {}; valid: {valid}", self.title));
            }
            return None;
        };
        match convert(v.get_ref()) {
            Ok(value) => Some(Val { value, at: v.span().start, path }),
            Err(expected) => {
                sink.problem(
                    v.span().start,
                    &path,
                    format!("expected {expected}, found {}", type_name(v.get_ref())),
                );
                None
            }
        }
    }

    pub fn string(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        required: Option<&str>,
    ) -> Option<Val<String>> {
        self.get(sink, key, required, as_string)
    }

    pub fn integer(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        required: Option<&str>,
    ) -> Option<Val<i64>> {
        let v = self.get(sink, key, required, |v| match v {
            DeValue::Integer(i) => Ok(i64::from_str_radix(i.as_str(), i.radix()).ok()),
            _ => Err("an integer"),
        })?;
        match v.value {
            Some(value) => Some(Val { value, at: v.at, path: v.path }),
            None => {
                sink.problem(v.at, &v.path, "the integer is too large");
                None
            }
        }
    }

    /// A number; integers are accepted too (`0` for `0.0`). Infinities and NaN are refused.
    pub fn number(&mut self, sink: &mut Sink, key: &'static str, required: Option<&str>) -> Option<Val<f64>> {
        let v = self.get(sink, key, required, |v| match v {
            DeValue::Float(f) => Ok(f.as_str().parse::<f64>().ok()),
            DeValue::Integer(i) => Ok(i64::from_str_radix(i.as_str(), i.radix()).ok().map(|i| i as f64)),
            _ => Err("a number"),
        })?;
        match v.value {
            Some(value) if value.is_finite() => Some(Val { value, at: v.at, path: v.path }),
            _ => {
                sink.problem(v.at, &v.path, "expected a finite number");
                None
            }
        }
    }

    pub fn boolean(&mut self, sink: &mut Sink, key: &'static str) -> Option<Val<bool>> {
        self.get(sink, key, None, |v| match v {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err("a boolean (true or false)"),
        })
    }

    /// An array of strings; each element keeps its own position and path (`key[i]`). `None` when
    /// any element is not a string (each such element being reported).
    pub fn strings(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        required: Option<&str>,
    ) -> Option<Val<Vec<Val<String>>>> {
        let path = self.key_path(key);
        let arr = self.get(sink, key, required, |v| match v {
            DeValue::Array(a) => Ok(a),
            _ => Err("an array of strings"),
        })?;
        let mut out = Vec::new();
        let mut complete = true;
        for (i, item) in arr.value.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            match as_string(item.get_ref()) {
                Ok(s) => out.push(Val { value: s, at: item.span().start, path: item_path }),
                Err(e) => {
                    complete = false;
                    let found = type_name(item.get_ref());
                    sink.problem(item.span().start, &item_path, format!("expected {e}, found {found}"));
                }
            }
        }
        // A partial list would only give rise to misleading problems (too few entries, say).
        complete.then_some(Val { value: out, at: arr.at, path })
    }

    /// A sub-table, `[key]` under this one.
    pub fn table(
        &mut self,
        sink: &mut Sink,
        key: &'static str,
        required: Option<&str>,
    ) -> Option<Section<'a, 'i>> {
        let path = self.key_path(key);
        let Some(v) = self.lookup(key) else {
            if let Some(valid) = required {
                sink.problem(self.at, &path, format!("missing table [{path}]; valid: {valid}"));
            }
            return None;
        };
        match v.get_ref() {
            DeValue::Table(t) => Some(Section {
                title: format!("in [{path}]"),
                path,
                at: v.span().start,
                table: t,
                asked: Vec::new(),
            }),
            other => {
                sink.problem(v.span().start, &path, format!("expected a table, found {}", type_name(other)));
                None
            }
        }
    }

    /// An array of tables, `[[key]]` (or an inline array of inline tables).
    pub fn tables(&mut self, sink: &mut Sink, key: &'static str) -> Vec<Section<'a, 'i>> {
        let path = self.key_path(key);
        let Some(v) = self.lookup(key) else { return Vec::new() };
        let DeValue::Array(items) = v.get_ref() else {
            let found = type_name(v.get_ref());
            sink.problem(
                v.span().start,
                &path,
                format!("expected an array of tables ([[{path}]]), found {found}"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            match item.get_ref() {
                DeValue::Table(t) => out.push(Section {
                    path: item_path,
                    title: format!("in [[{path}]]"),
                    at: item.span().start,
                    table: t,
                    asked: Vec::new(),
                }),
                other => sink.problem(
                    item.span().start,
                    &item_path,
                    format!("expected a table, found {}", type_name(other)),
                ),
            }
        }
        out
    }

    /// Reports every key nobody asked about, with the keys that are valid here. Keys that look like
    /// secrets are left to [`secrets`], which says where secrets really live.
    pub fn finish(self, sink: &mut Sink) {
        for (k, _) in self.table.iter() {
            let key = k.get_ref().as_ref();
            if self.asked.contains(&key) || secret_kind(key).is_some() {
                continue;
            }
            let valid = self.asked.join(", ");
            // A short key is only a typo of something close: "x" is not a misspelt "fis".
            let within = (key.chars().count() / 3).clamp(1, 3);
            let hint = match suggest::closest(key, self.asked.iter().copied(), within) {
                Some(near) => format!(" (did you mean {near:?}?)"),
                None => String::new(),
            };
            let what = if self.path.is_empty() { "unknown table or key" } else { "unknown key" };
            sink.problem(
                k.span().start,
                &self.key_path(key),
                format!("{what}; valid {}: {valid}{hint}", self.title),
            );
        }
    }
}

fn as_string(v: &DeValue<'_>) -> Result<String, &'static str> {
    match v {
        DeValue::String(s) => Ok(s.to_string()),
        _ => Err("a string"),
    }
}

/// Secrets that must never be in an env file, by what the key is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    Password,
    AwsCredential,
}

fn secret_kind(key: &str) -> Option<Secret> {
    let k = key.to_ascii_lowercase();
    if ["password", "passwd", "passphrase"].iter().any(|w| k.contains(w)) || k == "pwd" || k == "pass" {
        Some(Secret::Password)
    } else if k.contains("secret") || k.contains("access_key") || k.contains("session_token") {
        Some(Secret::AwsCredential)
    } else {
        None
    }
}

/// Refuses every key, at any depth, that would hold a password or credentials.
pub(crate) fn secrets(doc: &Spanned<DeTable<'_>>, sink: &mut Sink) {
    walk(doc.get_ref(), "", sink);
}

fn walk(table: &DeTable<'_>, path: &str, sink: &mut Sink) {
    for (k, v) in table.iter() {
        let key = k.get_ref().as_ref();
        let key_path = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
        match secret_kind(key) {
            Some(Secret::Password) => sink.problem(
                k.span().start,
                &key_path,
                "an env file never holds a password: spotctl generates the database password at the first apply \
                 and keeps it only as the SSM SecureString /spotctl/<env>/mysql-password; remove this key",
            ),
            Some(Secret::AwsCredential) => sink.problem(
                k.span().start,
                &key_path,
                "an env file never holds credentials: spotctl reads them from the standard AWS chain \
                 (AWS_PROFILE, environment variables, SSO, instance roles); remove this key",
            ),
            None => {}
        }
        walk_value(v.get_ref(), &key_path, sink);
    }
}

fn walk_value(v: &DeValue<'_>, path: &str, sink: &mut Sink) {
    match v {
        DeValue::Table(t) => walk(t, path, sink),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item.get_ref(), &format!("{path}[{i}]"), sink);
            }
        }
        _ => {}
    }
}
