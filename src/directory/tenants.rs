//! Rules of tenants (seed 001 company attributes): field limits and the tree.

use crate::error::{ApiError, ApiResult};
use crate::store::tenants::TenantFields;

use super::validate;

/// Most applications a tenant may enable (seed 001).
pub const MAX_APPLICATIONS: usize = 100;
/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Deepest tenant tree walked when looking for cycles.
pub const MAX_DEPTH: usize = 64;

/// Checks a tenant's fields (seed 001 maximum lengths).
pub fn check(f: &TenantFields) -> ApiResult<()> {
    validate::code("code", &f.code, b"")?;
    validate::required_text("name", &f.name, 32)?;
    validate::required_text("title", &f.title, 32)?;
    validate::text("description", &f.description, 200)?;
    validate::text("logo", &f.logo, 200)?;
    validate::url("logo", &f.logo)?;
    validate::text("industry", &f.industry, 32)?;
    validate::text("type", &f.tenant_type, 32)?;
    if !f.owner.is_empty() {
        validate::username(&f.owner).map_err(|_| {
            ApiError::invalid(
                "owner",
                "a username: 1 to 32 letters, digits, '-', '_' or '.'",
            )
        })?;
    }
    if !f.metadata.is_object() {
        return Err(ApiError::invalid("metadata", "a JSON object"));
    }
    if f.metadata.to_string().len() > MAX_METADATA_BYTES {
        return Err(ApiError::invalid(
            "metadata",
            &format!("at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    if f.applications.len() > MAX_APPLICATIONS {
        return Err(ApiError::invalid(
            "applications",
            &format!("at most {MAX_APPLICATIONS} applications"),
        ));
    }
    for (i, a) in f.applications.iter().enumerate() {
        if f.applications[..i].contains(a) {
            return Err(ApiError::invalid(
                "applications",
                &format!("{a:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// Whether placing `id` under a parent whose ancestry (parent first, up to the root) is
/// `ancestry` would make a cycle.
pub fn creates_cycle(id: &str, ancestry: &[String]) -> bool {
    ancestry.iter().any(|a| a == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> TenantFields {
        TenantFields {
            parent_id: None,
            code: "ACME".into(),
            name: "Acme".into(),
            title: "Acme".into(),
            description: String::new(),
            logo: String::new(),
            industry: String::new(),
            tenant_type: String::new(),
            owner: String::new(),
            metadata: serde_json::json!({}),
            applications: vec![],
        }
    }

    #[test]
    fn limits() {
        assert!(check(&fields()).is_ok());
        let mut f = fields();
        f.code = "AC-ME".into();
        assert!(check(&f).is_err());
        let mut f = fields();
        f.name = "x".repeat(33);
        assert!(check(&f).is_err());
        let mut f = fields();
        f.metadata = serde_json::json!([1]);
        assert!(check(&f).is_err());
        let mut f = fields();
        f.applications = vec!["a".into(), "a".into()];
        assert!(check(&f).is_err());
        let mut f = fields();
        f.owner = "bad owner".into();
        assert!(check(&f).is_err());
    }

    #[test]
    fn cycles() {
        let chain = vec!["b".to_owned(), "a".to_owned()];
        assert!(creates_cycle("a", &chain));
        assert!(!creates_cycle("c", &chain));
    }
}
