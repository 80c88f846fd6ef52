//! Request parameters of the OAuth endpoints: form or query pairs, each at most once
//! (RFC 6749 §3.1, §3.2) and bounded in size.

use std::collections::HashMap;

/// Longest accepted parameter value.
pub const MAX_PARAM_BYTES: usize = 2048;
/// Most parameters accepted in one request.
pub const MAX_PARAMS: usize = 64;

/// Distinct name → value pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(HashMap<String, String>);

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    /// A repeated parameter, with the request's first values (to report the error).
    Duplicated(String, Box<Params>),
    TooLong(String),
    TooMany,
}

impl std::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamsError::Duplicated(n, _) => write!(f, "parameter {n} is repeated"),
            ParamsError::TooLong(n) => write!(f, "parameter {n} is too long"),
            ParamsError::TooMany => f.write_str("too many parameters"),
        }
    }
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes. Empty values count as absent
    /// (RFC 6749 §3.1) but still count as a repetition.
    pub fn parse(raw: &[u8]) -> Result<Self, ParamsError> {
        Self::parse_limited(raw, MAX_PARAM_BYTES)
    }

    /// [`Params::parse`] with another bound on each value, for endpoints whose values are
    /// larger by design (a seed 001 `signdata`).
    pub fn parse_limited(raw: &[u8], max_value_bytes: usize) -> Result<Self, ParamsError> {
        let mut map = HashMap::new();
        for (i, (name, value)) in form_urlencoded::parse(raw).enumerate() {
            if i >= MAX_PARAMS {
                return Err(ParamsError::TooMany);
            }
            if value.len() > max_value_bytes || name.len() > 128 {
                return Err(ParamsError::TooLong(truncate(&name)));
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(ParamsError::Duplicated(
                    truncate(&name),
                    Box::new(Self::parse_first(raw)),
                ));
            }
        }
        map.retain(|_, v: &mut String| !v.is_empty());
        Ok(Self(map))
    }

    /// Like [`Params::parse`] but keeps the first of repeated values, for reporting an error
    /// to a client whose identity and redirect URI are themselves unambiguous.
    pub fn parse_first(raw: &[u8]) -> Self {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(raw).take(MAX_PARAMS) {
            if value.len() <= MAX_PARAM_BYTES && !value.is_empty() {
                map.entry(name.into_owned())
                    .or_insert_with(|| value.into_owned());
            }
        }
        Self(map)
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Builds parameters from pairs (tests, internal resumption).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

fn truncate(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r01_duplicates_and_oversize_are_refused() {
        assert!(
            matches!(Params::parse(b"a=1&a=2"), Err(ParamsError::Duplicated(n, first)) if n == "a" && first.get("a") == Some("1"))
        );
        let long = format!("state={}", "x".repeat(MAX_PARAM_BYTES + 1));
        assert_eq!(
            Params::parse(long.as_bytes()).err(),
            Some(ParamsError::TooLong("state".into()))
        );
        let p = Params::parse(b"a=%20x&b=").unwrap_or_default();
        assert_eq!(p.get("a"), Some(" x"));
        assert_eq!(p.get("b"), None);
    }
}
