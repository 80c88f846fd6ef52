//! The permission engine. A subject's effective permissions in an application are the union of
//! the items granted to its roles: the roles it holds directly, the roles of every group it is a
//! member of and of those groups' ancestors (users), or its service-account roles (clients).
//! Each role belongs to a tenant, so every grant holds in that tenant only.
//!
//! The same engine guards Gatehouse's own `/api/v1` (the `gatehouse-admin` application) and will
//! answer `checkApiByToken` for sub-applications.

pub mod pattern;

use std::collections::HashSet;
use std::sync::Arc;

pub use pattern::{ApiPattern, ApiSpec};

use crate::store::permissions::{GrantedItem, Subject};
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::{self, Db, StoreResult};

/// The application whose catalogue guards the admin API.
pub const ADMIN_APP: &str = "gatehouse-admin";

/// A granted permission item with its API patterns compiled.
#[derive(Debug, Clone)]
pub struct CompiledItem {
    pub id: String,
    pub code: String,
    pub kind: String,
    pub patterns: Vec<ApiPattern>,
}

impl CompiledItem {
    /// Compiles an item; patterns that do not compile are skipped (they can never allow).
    pub fn new(id: String, code: String, kind: String, apis: &[ApiSpec]) -> Self {
        let patterns = apis
            .iter()
            .filter_map(|s| ApiPattern::compile(s).ok())
            .collect();
        Self {
            id,
            code,
            kind,
            patterns,
        }
    }

    /// Whether one of the item's API patterns covers the request.
    pub fn allows(&self, method: &str, path: &str) -> bool {
        pattern::split_request_path(path).is_some_and(|segs| self.allows_segments(method, &segs))
    }

    /// [`CompiledItem::allows`] for a path already split by [`pattern::split_request_path`].
    pub fn allows_segments(&self, method: &str, segs: &[&str]) -> bool {
        self.patterns
            .iter()
            .any(|p| p.matches_segments(method, segs))
    }
}

/// Which tenants an action is allowed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    All,
    Some(Vec<String>),
}

impl TenantScope {
    /// Whether `tenant` is in scope.
    pub fn contains(&self, tenant: &str) -> bool {
        match self {
            TenantScope::All => true,
            TenantScope::Some(list) => list.iter().any(|t| t == tenant),
        }
    }

    /// Whether nothing is in scope.
    pub fn is_empty(&self) -> bool {
        matches!(self, TenantScope::Some(l) if l.is_empty())
    }
}

/// What a subject may do in one application, per tenant.
#[derive(Debug, Clone, Default)]
pub struct Authority {
    /// Everything, in every tenant.
    pub super_admin: bool,
    /// Everything the application offers, in these tenants.
    pub admin_tenants: HashSet<String>,
    /// Items granted by roles: (tenant of the role, item).
    pub grants: Vec<(String, Arc<CompiledItem>)>,
}

impl Authority {
    /// Whether `method path` is allowed on an object of `tenant`.
    pub fn allows(&self, method: &str, path: &str, tenant: &str) -> bool {
        self.super_admin
            || self.admin_tenants.contains(tenant)
            || self
                .grants
                .iter()
                .any(|(t, item)| t == tenant && item.allows(method, path))
    }

    /// The tenants in which `method path` is allowed.
    pub fn scope(&self, method: &str, path: &str) -> TenantScope {
        if self.super_admin {
            return TenantScope::All;
        }
        let mut tenants: Vec<String> = self.admin_tenants.iter().cloned().collect();
        for (t, item) in &self.grants {
            if item.allows(method, path) && !tenants.contains(t) {
                tenants.push(t.clone());
            }
        }
        tenants.sort();
        TenantScope::Some(tenants)
    }

    /// Whether the subject administers `tenant` (super admin or tenant admin).
    pub fn administers(&self, tenant: &str) -> bool {
        self.super_admin || self.admin_tenants.contains(tenant)
    }

    /// Codes of the items held in `tenant` (administrators hold none explicitly).
    pub fn codes_in(&self, tenant: &str) -> Vec<String> {
        let mut codes: Vec<String> = self
            .grants
            .iter()
            .filter(|(t, _)| t == tenant)
            .map(|(_, i)| i.code.clone())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

/// Who is asking, as far as authority goes.
#[derive(Debug, Clone)]
pub struct SubjectInfo<'a> {
    pub subject: Subject<'a>,
    /// Main tenant of the user or client.
    pub tenant_id: &'a str,
    /// `ADMIN` or `MEMBER` for users; `None` for clients.
    pub user_type: Option<&'a str>,
}

/// Computes a subject's authority in `app` from the store (no cache: permission changes take
/// effect on the next request, A-11).
pub async fn authority(db: &Db, who: &SubjectInfo<'_>, app: &str) -> StoreResult<Authority> {
    let mut admin_tenants = HashSet::new();
    let mut super_admin = false;
    if let Subject::User(user_id) = who.subject {
        if who.user_type == Some("ADMIN") {
            if who.tenant_id == DEFAULT_TENANT {
                super_admin = true;
            }
            admin_tenants.insert(who.tenant_id.to_owned());
        }
        for t in store::permissions::admin_tenants(db, user_id).await? {
            admin_tenants.insert(t);
        }
    }
    let grants = if super_admin {
        Vec::new()
    } else {
        compile(store::permissions::granted_items(db, who.subject, app).await?)
    };
    Ok(Authority {
        super_admin,
        admin_tenants,
        grants,
    })
}

fn compile(rows: Vec<GrantedItem>) -> Vec<(String, Arc<CompiledItem>)> {
    rows.into_iter()
        .map(|g| {
            let apis: Vec<ApiSpec> = serde_json::from_str(&g.apis).unwrap_or_default();
            (
                g.tenant_id,
                Arc::new(CompiledItem::new(g.permission_id, g.code, g.kind, &apis)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(code: &str, method: &str, path: &str) -> Arc<CompiledItem> {
        Arc::new(CompiledItem::new(
            code.into(),
            code.into(),
            "api".into(),
            &[ApiSpec {
                method: Some(method.into()),
                path: path.into(),
            }],
        ))
    }

    #[test]
    fn grants_hold_in_their_tenant_only() {
        let a = Authority {
            grants: vec![("t1".into(), item("account", "GET", "/api/v1/users/**"))],
            ..Authority::default()
        };
        assert!(a.allows("GET", "/api/v1/users/x", "t1"));
        assert!(!a.allows("GET", "/api/v1/users/x", "t2"));
        assert!(!a.allows("DELETE", "/api/v1/users/x", "t1"));
        assert_eq!(
            a.scope("GET", "/api/v1/users"),
            TenantScope::Some(vec!["t1".into()])
        );
        assert!(a.scope("POST", "/api/v1/users").is_empty());
    }

    #[test]
    fn administrators() {
        let mut a = Authority::default();
        a.admin_tenants.insert("t1".into());
        assert!(a.allows("DELETE", "/anything", "t1"));
        assert!(!a.allows("DELETE", "/anything", "t2"));
        a.super_admin = true;
        assert!(a.allows("DELETE", "/anything", "t2"));
        assert_eq!(a.scope("GET", "/x"), TenantScope::All);
    }
}
