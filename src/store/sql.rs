//! A tiny builder for the dynamic `WHERE` clauses of list queries: conditions are added with
//! their values, placeholders are numbered here, values are always bound (never formatted in).

/// A value to bind.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(s.to_owned())
    }
}
impl From<String> for Bind {
    fn from(s: String) -> Self {
        Bind::Text(s)
    }
}
impl From<i64> for Bind {
    fn from(i: i64) -> Self {
        Bind::Int(i)
    }
}
impl From<f64> for Bind {
    fn from(f: f64) -> Self {
        Bind::Float(f)
    }
}

type AnyQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>;
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Conditions joined with `AND`, and their values.
#[derive(Debug, Clone, Default)]
pub struct Where {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    /// An empty condition list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value and returns its placeholder (`$n`), for hand-written conditions.
    pub fn mark(&mut self, value: impl Into<Bind>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    /// Adds a condition written with placeholders from [`Where::mark`].
    pub fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// `column = value`.
    pub fn eq(&mut self, column: &str, value: impl Into<Bind>) {
        let m = self.mark(value);
        self.push(format!("{column} = {m}"));
    }

    /// `column IN (values…)`; an empty list matches nothing.
    pub fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.push("1 = 0".into());
            return;
        }
        let marks: Vec<String> = values.iter().map(|v| self.mark(v.as_str())).collect();
        self.push(format!("{column} IN ({})", marks.join(", ")));
    }

    /// Number of values bound so far (the next placeholder is `$len+1`).
    pub fn len(&self) -> usize {
        self.binds.len()
    }

    /// Whether no value was bound.
    pub fn is_empty(&self) -> bool {
        self.binds.is_empty()
    }

    /// `WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Binds every value, in order, to a `query_as`.
    pub fn bind_as<'q, O>(&'q self, mut q: AnyQueryAs<'q, O>) -> AnyQueryAs<'q, O> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
                Bind::Float(f) => q.bind(*f),
            };
        }
        q
    }

    /// Binds every value, in order, to a `query`.
    pub fn bind<'q>(&'q self, mut q: AnyQuery<'q>) -> AnyQuery<'q> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
                Bind::Float(f) => q.bind(*f),
            };
        }
        q
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Sort direction from an `order` parameter (`asc`/`desc`, also seed 000's `1`/`-1`).
pub fn direction(order: Option<&str>, default_desc: bool) -> &'static str {
    match order {
        Some("asc") | Some("ASC") | Some("1") => "ASC",
        Some("desc") | Some("DESC") | Some("-1") => "DESC",
        _ if default_desc => "DESC",
        _ => "ASC",
    }
}
