//! Field rules of the directory (seed 001's attribute tables): one function per rule, each
//! returning a 400 `invalid_field` that names the field.

use crate::error::{ApiError, ApiResult};

/// Usernames: 1–32 of letters, digits, `-`, `_`, `.` (seed 001).
pub fn username(v: &str) -> ApiResult<()> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "1 to 32 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// Codes of tenants and roles: 1–32 of letters, digits (roles also `-`, `_`, `.`, `:`).
pub fn code(field: &str, v: &str, extra: &[u8]) -> ApiResult<()> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "1 to 32 letters and digits (see the API description for allowed punctuation)",
        ))
    }
}

/// A required display text of at most `max` characters, without control characters.
pub fn text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            &format!("at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

/// Like [`text`], and not empty.
pub fn required_text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    text(field, v, max)
}

/// Group names and types may not contain `/` (they make up `name_path`/`type_path`).
pub fn path_segment(field: &str, v: &str) -> ApiResult<()> {
    required_text(field, v, 64)?;
    if v.contains('/') {
        return Err(ApiError::invalid(field, "'/' is not allowed"));
    }
    Ok(())
}

/// A plausible e-mail address: one `@`, something on each side, at most 100 characters.
pub fn email(v: &str) -> ApiResult<()> {
    let ok = v.len() <= 100
        && matches!(v.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@'))
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("email", "not an e-mail address"))
    }
}

/// Phone numbers: digits, `+`, `-`, spaces; at most 32 characters.
pub fn phone(v: &str) -> ApiResult<()> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b' '));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "phone",
            "digits, '+', '-' and spaces, at most 32",
        ))
    }
}

/// Gender: `M`, `F` or `U` (seed 002).
pub fn gender(v: &str) -> ApiResult<()> {
    if matches!(v, "M" | "F" | "U") {
        Ok(())
    } else {
        Err(ApiError::invalid("gender", "one of M, F, U"))
    }
}

/// Birthdate: `YYYY-MM-DD` (OIDC Core §5.1 `birthdate`).
pub fn birthdate(v: &str) -> ApiResult<()> {
    let b = v.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("birthdate", "YYYY-MM-DD"))
    }
}

/// URLs shown to users (logos, avatars, home pages): absolute http(s), at most 512 bytes.
pub fn url(field: &str, v: &str) -> ApiResult<()> {
    if v.is_empty() {
        return Ok(());
    }
    let ok = v.len() <= 512
        && url::Url::parse(v)
            .map(|u| matches!(u.scheme(), "https" | "http"))
            .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "an absolute http(s) URL"))
    }
}

/// User types (seed 000).
pub fn user_type(v: &str) -> ApiResult<()> {
    if matches!(v, "ADMIN" | "MEMBER") {
        Ok(())
    } else {
        Err(ApiError::invalid("type", "ADMIN or MEMBER"))
    }
}

/// User states (seed 001).
pub fn state(v: &str) -> ApiResult<()> {
    if matches!(v, "active" | "inactive") {
        Ok(())
    } else {
        Err(ApiError::invalid("state", "active or inactive"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["a", "lisi3", "a.b-c_d", &"x".repeat(32)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "名字", &"x".repeat(33), "a@b"] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn misc_fields() {
        assert!(email("a@b.c").is_ok());
        assert!(email("a@b").is_err());
        assert!(email("@b.c").is_err());
        assert!(phone("+86 138-0000").is_ok());
        assert!(phone("138x").is_err());
        assert!(birthdate("1990-01-31").is_ok());
        assert!(birthdate("1990/01/31").is_err());
        assert!(path_segment("name", "部门A").is_ok());
        assert!(path_segment("name", "a/b").is_err());
        assert!(url("logo", "javascript:alert(1)").is_err());
        assert!(url("logo", "https://x.example/l.png").is_ok());
        assert!(code("code", "ACME01", b"").is_ok());
        assert!(code("code", "ACME-01", b"").is_err());
    }
}
