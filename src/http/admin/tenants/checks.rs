//! Checks of a tenant write: moves, newly enabled applications, unique code and name, and the
//! changed fields named in the audit log.

use crate::directory::tenants::{self as rules, MAX_DEPTH};
use crate::error::{ApiError, ApiResult};
use crate::http::admin::Ctx;
use crate::store::tenants::{self, TenantFields};
use crate::store::{Db, clients};

/// Moving a tenant: the new parent exists, is visible and is not inside the tenant; the caller
/// administers the old and the new parent (the top level belongs to super administrators).
pub(super) async fn check_move(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<()> {
    let administers = |p: Option<&str>| match p {
        None => ctx.is_super(),
        Some(p) => ctx.administers(p),
    };
    if let Some(to) = to {
        if tenants::get(db, to).await?.is_none() || !ctx.allows(to) {
            return Err(ApiError::NotFound("tenant"));
        }
        let mut ancestry = vec![to.to_owned()];
        let mut cur = to.to_owned();
        while let Some(Some(p)) = tenants::parent_of(db, &cur).await? {
            if ancestry.len() > MAX_DEPTH || ancestry.contains(&p) {
                break;
            }
            ancestry.push(p.clone());
            cur = p;
        }
        if rules::creates_cycle(id, &ancestry) {
            return Err(ApiError::conflict(
                "tenant_cycle",
                "a tenant cannot move below itself",
            ));
        }
    }
    if !administers(from) || !administers(to) {
        return Err(ApiError::forbidden(
            "moving a tenant needs administrators of its old and new parents",
        ));
    }
    Ok(())
}

/// Applications newly enabled for a tenant must exist and belong to a tenant where the caller
/// may do this (only their owner decides who uses them).
pub(super) async fn check_new_applications(
    db: &Db,
    ctx: &Ctx,
    before: &[String],
    after: &[String],
) -> ApiResult<()> {
    for a in after.iter().filter(|a| !before.contains(a)) {
        let ok = clients::find(db, a)
            .await?
            .is_some_and(|c| ctx.allows(&c.tenant_id));
        if !ok {
            return Err(ApiError::invalid(
                "applications",
                &format!("no application {a:?}"),
            ));
        }
    }
    Ok(())
}

/// Refuses a code or name another tenant (not `except`) has.
pub(super) async fn refuse_taken(db: &Db, f: &TenantFields, except: &str) -> ApiResult<()> {
    let (code, name) = tenants::taken(db, &f.code, &f.name, except).await?;
    if code {
        return Err(ApiError::conflict(
            "tenant_code_taken",
            "another tenant has this code",
        ));
    }
    if name {
        return Err(ApiError::conflict(
            "tenant_name_taken",
            "another tenant has this name",
        ));
    }
    Ok(())
}

/// A unique-constraint failure of a write that raced another one.
pub(super) fn taken_race(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::Conflict(_) => {
            ApiError::conflict("tenant_name_taken", "another tenant has this code or name")
        }
        e => e.into(),
    }
}

/// Names of the fields that differ between `a` and `b` (values stay out of the audit log).
pub(super) fn changed_fields(a: &TenantFields, b: &TenantFields) -> Vec<&'static str> {
    let mut out = Vec::new();
    let pairs: [(&'static str, bool); 11] = [
        ("parent_id", a.parent_id != b.parent_id),
        ("code", a.code != b.code),
        ("name", a.name != b.name),
        ("title", a.title != b.title),
        ("description", a.description != b.description),
        ("logo", a.logo != b.logo),
        ("industry", a.industry != b.industry),
        ("type", a.tenant_type != b.tenant_type),
        ("owner", a.owner != b.owner),
        ("metadata", a.metadata != b.metadata),
        ("applications", a.applications != b.applications),
    ];
    for (name, changed) in pairs {
        if changed {
            out.push(name);
        }
    }
    out
}
