//! Normalisation of the `apiPath` a sub-application asks about (checkApiByToken, G-07).
//!
//! Rules (documented in the README): the query string is dropped; a `#` is refused; percent-escapes
//! are decoded once; a path that is not valid UTF-8 after decoding (overlong forms included),
//! that still contains `%` (double encoding), that decodes to `/`, `\`, `?` or `#`, that holds
//! a control character (NUL, CR, LF, tab…), a `;` (path parameters: Tomcat reads `/a/..;/b` as
//! `/b`), a Unicode look-alike of `/`, `\` or `.`, a segment made only of dots and spaces (`.`,
//! `..`, `...`, `.. ` — Windows servers trim trailing dots and spaces), or empty segments (`//`)
//! is refused — the answer is `false`, never a guess. One trailing slash is ignored. Matching is
//! case-sensitive (RFC 3986 §6.2.2.1): `/API/x` is not `/api/x`, so a case change can only turn
//! an allowed path into a refused one.

/// The canonical form of `raw`, or `None` when it is ambiguous.
pub fn normalize(raw: &str) -> Option<String> {
    let end = raw.find('?').unwrap_or(raw.len());
    let raw = &raw[..end];
    // A fragment never reaches a server; a router that kept it literally would then resolve the
    // dot segments after it (`/a/x#/../../b`).
    if !raw.starts_with('/') || raw.len() > 2048 || raw.contains('#') {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            // An encoded separator or escape would be read differently by the sub-app's router.
            if matches!(v, b'/' | b'\\' | b'%' | b'?' | b'#') {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let path = String::from_utf8(out).ok()?;
    if path.chars().any(refused_char) {
        return None;
    }
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(&path)
    } else {
        &path
    };
    if trimmed.len() > 1
        && trimmed[1..]
            .split('/')
            .any(|s| s.is_empty() || s.chars().all(|c| c == '.' || c == ' '))
    {
        return None;
    }
    Some(trimmed.to_owned())
}

/// Characters no canonical path holds: controls, `\`, `;`, and look-alikes of `/`, `\` and
/// `.` that some servers fold into them (full-width forms, NFKC, "best fit" code pages).
fn refused_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\\'
                | ';'
                | '\u{2024}' // one dot leader
                | '\u{2044}' // fraction slash
                | '\u{2215}' // division slash
                | '\u{29F5}' // reverse solidus operator
                | '\u{29F8}' // big solidus
                | '\u{FE52}' // small full stop
                | '\u{FE68}' // small reverse solidus
                | '\u{FF0E}' // full-width full stop
                | '\u{FF0F}' // full-width solidus
                | '\u{FF3C}' // full-width reverse solidus
        )
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("/api/user/get", "/api/user/get"),
            ("/api/user/get/", "/api/user/get"),
            ("/api/user/get?x=1", "/api/user/get"),
            ("/api/us%65r/get", "/api/user/get"),
            ("/api/%E6%96%87%E4%BB%B6", "/api/文件"),
            ("/api/v1.2/a..b/.x", "/api/v1.2/a..b/.x"),
            ("/api/a%20b", "/api/a b"),
            ("/", "/"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Some(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "",
            "api/user",
            "/api//user",
            "/api/./user",
            "/api/../admin",
            "/api/%2e%2e/admin",
            "/api/%2E/admin",
            "/api%2fadmin",
            "/api%2Fadmin",
            "/api%5cadmin",
            "/api\\admin",
            "/api/%252e%252e/admin",
            "/api/%25",
            "/api/%zz",
            "/api/%e6%96",
            "/api/%00",
            "/api/a\u{0}b",
            "/api/%0d%0a",
            "//api",
            "/api/user/get#frag",
            "/api/x#/../../admin",
            "/api/..;/admin",
            "/api/;jsessionid=1",
            "/api/%3b/admin",
            "/api/x%3Fy",
            "/api/x%23y",
            "/api/...",
            "/api/.. /admin",
            "/api/..%20/admin",
            "/api/%c0%ae%c0%ae/admin",
            "/api/%e0%80%ae/admin",
            "/api/\u{FF0E}\u{FF0E}/admin",
            "/api/x\u{FF0F}..\u{FF0F}admin",
            "/api/%EF%BC%8F",
            "/api/a\tb",
            "/api/%09",
            "/api/%7f",
            "/api/%c2%85",
            "/api/%+2",
            "/api/ /x",
        ] {
            assert_eq!(normalize(raw), None, "{raw:?}");
        }
    }
}
