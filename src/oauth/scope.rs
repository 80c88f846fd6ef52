//! Scopes: the supported set and the rules for parsing, narrowing and claim release.

/// Every scope Gatehouse knows; anything else is `invalid_scope`.
pub const SUPPORTED: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
];

/// Human description of a scope, for the consent page.
pub fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Confirm your identity",
        "profile" => "See your name, username and profile picture",
        "email" => "See your email address",
        "phone" => "See your phone number",
        "address" => "See your postal address",
        "offline_access" => "Stay signed in and access your data while you are away",
        _ => "Unknown permission",
    }
}

/// Parses a space-separated scope string into distinct, supported values in canonical order.
/// Returns the first unknown value as the error.
pub fn parse(raw: &str) -> Result<Vec<&'static str>, String> {
    let mut out: Vec<&'static str> = Vec::new();
    for part in raw.split(' ').filter(|p| !p.is_empty()) {
        match SUPPORTED.iter().find(|s| **s == part) {
            Some(s) => {
                if !out.contains(s) {
                    out.push(s);
                }
            }
            None => return Err(part.to_owned()),
        }
    }
    out.sort_by_key(|s| SUPPORTED.iter().position(|x| x == s));
    Ok(out)
}

/// Joins scopes with spaces.
pub fn join(scopes: &[&str]) -> String {
    scopes.join(" ")
}

/// Whether the space-separated `granted` contains `scope`.
pub fn has(granted: &str, scope: &str) -> bool {
    granted.split(' ').any(|s| s == scope)
}

/// Whether every scope of `requested` is in `granted` (refresh may only narrow, RFC 6749 §6).
pub fn is_subset(requested: &[&str], granted: &str) -> bool {
    requested.iter().all(|s| has(granted, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_dedups_orders_and_rejects_unknown() {
        assert_eq!(
            parse("email openid email").unwrap_or_default(),
            vec!["openid", "email"]
        );
        assert_eq!(parse("  ").unwrap_or_default(), Vec::<&str>::new());
        assert_eq!(parse("openid admin"), Err("admin".to_owned()));
    }

    #[test]
    fn subset_rules() {
        assert!(is_subset(&["openid"], "openid email"));
        assert!(!is_subset(&["openid", "phone"], "openid email"));
        assert!(has("openid offline_access", "offline_access"));
        assert!(!has("openid offline_accessx", "offline_access"));
    }
}
