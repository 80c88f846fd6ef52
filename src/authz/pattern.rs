//! API patterns of permission items: an optional method list and a path pattern.
//!
//! Path segments: a literal; `*`, `:name` or `{name}` = exactly one segment; `**` = any number of
//! segments (including none). A trailing `/*` (seed 001's `/user/*`) also covers everything below.
//! Requests are matched on their raw path; a path that could be read two ways (`//`, `.`/`..`
//! segments, encoded `/`, `\` or `.`) matches nothing, so normalisation tricks fail closed (G-07).

use serde::{Deserialize, Serialize};

/// One `{method, path}` entry as stored in a permission item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// Comma-separated HTTP methods (`GET`, `POST,PUT`); absent or `*` = any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path pattern, starting with `/`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    One,
    Many,
}

/// A compiled [`ApiSpec`].
#[derive(Debug, Clone)]
pub struct ApiPattern {
    methods: Option<Vec<String>>,
    segs: Vec<Seg>,
}

impl ApiPattern {
    /// Compiles a spec; `Err` names what is wrong with it.
    pub fn compile(spec: &ApiSpec) -> Result<Self, String> {
        let methods = match spec.method.as_deref().map(str::trim) {
            None | Some("") | Some("*") => None,
            Some(m) => {
                let list: Vec<String> = m
                    .split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .collect();
                if list.iter().any(|s| {
                    !matches!(
                        s.as_str(),
                        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
                    )
                }) {
                    return Err(format!("unknown HTTP method in {m:?}"));
                }
                Some(list)
            }
        };
        let path = spec.path.as_str();
        if !path.starts_with('/') || path.len() > 512 {
            return Err("a path pattern starts with '/' and has at most 512 bytes".into());
        }
        let raw: Vec<&str> = path[1..].split('/').collect();
        let n = raw.len();
        let mut segs = Vec::with_capacity(n);
        for (i, s) in raw.iter().enumerate() {
            let seg = match *s {
                "**" => Seg::Many,
                // seed 001: `/user/*` means everything under /user
                "*" if i == n - 1 && n > 1 => Seg::Many,
                "*" => Seg::One,
                s if s.starts_with(':') && s.len() > 1 => Seg::One,
                s if s.starts_with('{') && s.ends_with('}') && s.len() > 2 => Seg::One,
                "" if i == n - 1 && n > 1 => continue, // trailing slash
                "" if n == 1 => continue,              // "/" itself
                "" | "." | ".." => return Err(format!("empty or dot segment in {path:?}")),
                s => Seg::Literal(s.to_owned()),
            };
            segs.push(seg);
        }
        Ok(Self { methods, segs })
    }

    /// Whether a request `method path` matches. `path` is the raw request path (no query).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        split_request_path(path).is_some_and(|segs| self.matches_segments(method, &segs))
    }

    /// [`ApiPattern::matches`] for a path already split by [`split_request_path`], so a caller
    /// testing many patterns splits (and vets) the path once.
    pub fn matches_segments(&self, method: &str, segs: &[&str]) -> bool {
        if let Some(methods) = &self.methods {
            let head_as_get = method == "HEAD" && methods.iter().any(|m| m == "GET");
            if !head_as_get && !methods.iter().any(|m| m == method) {
                return false;
            }
        }
        match_segs(&self.segs, segs)
    }
}

/// The segments of a request path, or `None` if the path is ambiguous.
pub fn split_request_path(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    if path.len() > 2048 || path.contains('\\') {
        return None;
    }
    if path.contains('%') {
        let lower = path.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%2e") || lower.contains("%5c") {
            return None;
        }
    }
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return None;
    }
    Some(segs)
}

fn match_segs(pattern: &[Seg], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Seg::Many, rest)) => (0..=path.len()).any(|skip| match_segs(rest, &path[skip..])),
        Some((Seg::One, rest)) => !path.is_empty() && match_segs(rest, &path[1..]),
        Some((Seg::Literal(l), rest)) => {
            path.first().is_some_and(|p| p == l) && match_segs(rest, &path[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(method: Option<&str>, path: &str) -> ApiPattern {
        ApiPattern::compile(&ApiSpec {
            method: method.map(str::to_owned),
            path: path.into(),
        })
        .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn table() {
        // (method spec, pattern, request method, request path, expected)
        let cases = [
            (None, "/api/user/get", "POST", "/api/user/get", true),
            (None, "/api/user/get", "POST", "/api/user/get/", true),
            (None, "/api/user/get", "POST", "/api/user/getx", false),
            (None, "/api/user/get", "POST", "/api/user", false),
            (None, "/user/*", "GET", "/user/add", true),
            (None, "/user/*", "GET", "/user/a/b", true),
            (None, "/user/*", "GET", "/user", true),
            (None, "/user/*/x", "GET", "/user/1/x", true),
            (None, "/user/*/x", "GET", "/user/1/2/x", false),
            (None, "/users/:id", "GET", "/users/42", true),
            (None, "/users/{id}/roles", "GET", "/users/42/roles", true),
            (None, "/users/{id}/roles", "GET", "/users/42", false),
            (
                Some("GET"),
                "/api/v1/users/**",
                "GET",
                "/api/v1/users",
                true,
            ),
            (
                Some("GET"),
                "/api/v1/users/**",
                "HEAD",
                "/api/v1/users",
                true,
            ),
            (
                Some("GET"),
                "/api/v1/users/**",
                "POST",
                "/api/v1/users",
                false,
            ),
            (Some("POST,PUT"), "/a/**/z", "PUT", "/a/b/c/z", true),
            (Some("POST,PUT"), "/a/**/z", "PUT", "/a/z", true),
            (None, "/", "GET", "/", true),
            (None, "/", "GET", "/a", false),
            // ambiguous request paths never match
            (None, "/api/**", "GET", "/api/../admin", false),
            (None, "/api/**", "GET", "/api/./x", false),
            (None, "/api/**", "GET", "/api//x", false),
            (None, "/api/**", "GET", "/api/%2e%2e/x", false),
            (None, "/api/**", "GET", "/api%2Fx", false),
            (None, "/api/**", "GET", "/api\\x", false),
            (None, "/api/**", "GET", "api/x", false),
            // case matters
            (None, "/api/x", "GET", "/API/x", false),
        ];
        for (m, pat, rm, rp, want) in cases {
            assert_eq!(p(m, pat).matches(rm, rp), want, "{m:?} {pat} vs {rm} {rp}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for (m, path) in [
            (None, "api"),
            (None, "/a//b"),
            (None, "/a/../b"),
            (Some("FETCH"), "/a"),
        ] {
            let spec = ApiSpec {
                method: m.map(str::to_owned),
                path: path.into(),
            };
            assert!(ApiPattern::compile(&spec).is_err(), "{path}");
        }
    }
}
