//! Seed 002's user profile (`/api/auth/getUser`) and data permissions
//! (`/api/auth/getUserDataPerm`), computed from the directory for the application the token was
//! issued to. The permission lists come from the same compiled grants as `checkApiByToken`
//! ([`Checker::grants`]), so `permApiList` is exactly what that check decides against.
//!
//! Mapping decisions (seed 002 §B.8, with Gatehouse's model):
//! - `_id` and `id` are both the user id (a string); `name` is the username (the seed's meaning),
//!   `userName` the real name, else the display name; `extra` is the user's `attrs` as a JSON
//!   string; `isInitial` is `Y` while an administrator's reset forces a new password.
//! - `token` echoes the token the caller presented (the seed does; the caller has it anyway);
//!   no other credential ever appears.
//! - `roleType`: `"0"` super administrator, `"1"` administrator of a tenant, `"3"` ordinary
//!   (Gatehouse has no application or org administrators, the seed's `"2"` and `"4"`).
//! - Orgs are groups. The tenant is the root of its org tree, as in the seed: `rootId` is the
//!   tenant id and `fullPath` is `[tenant, ancestors…]`; `fullOrgs` adds the group itself.
//!   `orgType` is the group's type, `associationRole` the first role the group confers.
//! - `manageOrgs`: a tenant administrator manages the whole tenant, given as the tenant's
//!   top-level groups (org objects, as in the seed's sample, not bare ids).
//! - `roles` are the effective roles (direct and inherited from groups), `org` the groups the
//!   user is a direct member of; dates are ISO-8601 UTC with milliseconds (`…T…:…:….000Z`).
//! - `permList[].apis` lists the item's API paths; `extra` is a JSON string with `kind`,
//!   `name` and, for data items, `dataScope`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::checker::{Checker, Compiled};
use super::tokens::{self, Principal};
use crate::oauth::{OAuthError, Provider};
use crate::store::groups::{self, Group};
use crate::store::permissions::{self, Permission};
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::users::{self, User};
use crate::store::{profiles, roles};

/// Seed 002's `User` object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncUser {
    #[serde(rename = "_id")]
    pub key: String,
    pub token: String,
    pub status: &'static str,
    pub gender: String,
    pub name: String,
    pub is_initial: &'static str,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub id: String,
    pub extra: String,
    pub user_name: Option<String>,
    pub roles: Vec<String>,
    pub birthday: Option<String>,
    pub org: Vec<String>,
    pub org_name: Vec<String>,
    pub org_code: Vec<String>,
    pub role_names: Vec<String>,
    pub role_type: &'static str,
    pub perm_id_list: Vec<String>,
    pub perm_api_list: Vec<String>,
    pub manage_orgs: Vec<Org>,
    pub main_tenant: String,
    pub tenant: Vec<String>,
    #[serde(rename = "created_at")]
    pub created_at: String,
    pub login_time: Option<String>,
    pub avatar: Option<String>,
    pub tenant_list: Vec<TenantEntry>,
    pub perm_list: Vec<PermEntry>,
}

/// An org (group) as the seed's sample shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub status: &'static str,
    pub root_id: String,
    pub org_type: String,
    pub association_role: Option<String>,
    pub full_path: Vec<String>,
    #[serde(rename = "_id")]
    pub key: String,
    pub name: String,
    pub code: String,
}

/// One element of `tenantList`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantEntry {
    pub tenant_id: String,
    pub is_admin: bool,
    pub manage_orgs: Vec<Org>,
    pub orgs: Vec<Org>,
    pub roles: Vec<String>,
    pub full_orgs: Vec<Vec<String>>,
}

/// One element of `permList`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermEntry {
    pub apis: Vec<String>,
    pub extra: String,
    #[serde(rename = "_id")]
    pub key: String,
    pub app_id: String,
    pub perm_id: String,
}

/// One element of `getUserDataPerm`'s `list`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPerm {
    #[serde(rename = "_id")]
    pub key: String,
    /// The item's code (the identifier the application chose).
    pub permission_id: String,
    pub permission_name: String,
    /// The first API path of the item, `""` without one.
    pub api: String,
}

/// A live token whose application is enabled and whose user may act now.
struct Live {
    principal: Principal,
    user: User,
    grants: Arc<Compiled>,
}

/// `None` for anything `checkApiByToken` would refuse as a whole: unknown, expired, revoked or
/// forged token, disabled application, inactive or trial-expired user.
async fn live(
    provider: &Provider,
    checker: &Checker,
    token: &str,
    now: i64,
) -> Result<Option<Live>, OAuthError> {
    let Some(principal) = tokens::resolve(provider, &checker.tokens, token, now).await? else {
        return Ok(None);
    };
    if !provider
        .client(&principal.client_id)
        .await?
        .is_some_and(|c| c.enabled)
    {
        return Ok(None);
    }
    let Some(user) = users::find(&provider.db, &principal.user_id).await? else {
        return Ok(None);
    };
    let grants = checker
        .grants(provider, &principal.user_id, &principal.client_id, now)
        .await?;
    if !user.may_sign_in(now) || !grants.usable(now) {
        return Ok(None);
    }
    Ok(Some(Live {
        principal,
        user,
        grants,
    }))
}

/// The catalogue rows of the granted items of `kind` (all kinds when `None`).
async fn granted_rows(
    provider: &Provider,
    live: &Live,
    kind: Option<&str>,
) -> Result<Vec<Permission>, OAuthError> {
    let app = &live.principal.client_id;
    let rows = if live.grants.everything {
        permissions::catalogue(&provider.db, app).await?
    } else {
        let ids: Vec<&str> = live
            .grants
            .items
            .iter()
            .filter(|i| kind.is_none_or(|k| i.kind == k))
            .map(|i| i.id.as_str())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        profiles::items(&provider.db, app, &ids).await?
    };
    Ok(rows
        .into_iter()
        .filter(|p| kind.is_none_or(|k| p.kind == k))
        .collect())
}

/// The API paths of an item, in its order.
fn api_paths(p: &Permission) -> Vec<String> {
    p.apis
        .0
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The data-kind items granted to the token's user in the token's application; `None` when the
/// token is not live (login required).
pub async fn data_permissions(
    provider: &Provider,
    checker: &Checker,
    token: &str,
    now: i64,
) -> Result<Option<Vec<DataPerm>>, OAuthError> {
    let Some(live) = live(provider, checker, token, now).await? else {
        return Ok(None);
    };
    let rows = granted_rows(provider, &live, Some("data")).await?;
    Ok(Some(
        rows.into_iter()
            .map(|p| DataPerm {
                api: api_paths(&p).into_iter().next().unwrap_or_default(),
                permission_name: if p.name.is_empty() {
                    p.code.clone()
                } else {
                    p.name
                },
                permission_id: p.code,
                key: p.id,
            })
            .collect(),
    ))
}

/// The seed 002 profile of the token's user, for the token's application; `None` when the token
/// is not live (login required).
pub async fn user(
    provider: &Provider,
    checker: &Checker,
    token: &str,
    now: i64,
) -> Result<Option<IncUser>, OAuthError> {
    let Some(live) = live(provider, checker, token, now).await? else {
        return Ok(None);
    };
    let db = &provider.db;
    let u = &live.user;
    let rows = granted_rows(provider, &live, None).await?;
    let held = roles::of_user(db, &u.id, true).await?;
    let mine = groups::of_user(db, &u.id).await?;
    // Tenants: the main one first. Administrators: same rule as `crate::authz::authority`.
    let mut tenants: Vec<(String, bool)> = vec![(u.tenant_id.clone(), u.user_type == "ADMIN")];
    for m in profiles::memberships(db, &u.id).await? {
        match tenants.iter_mut().find(|(t, _)| *t == m.tenant_id) {
            Some((_, admin)) => *admin |= m.is_admin != 0,
            None => tenants.push((m.tenant_id, m.is_admin != 0)),
        }
    }
    let mut managed: HashMap<String, Vec<Group>> = HashMap::new();
    for (t, admin) in &tenants {
        if *admin {
            managed.insert(t.clone(), groups::children(db, t, "").await?);
        }
    }
    let mut group_ids: Vec<&str> = mine.iter().map(|g| g.id.as_str()).collect();
    group_ids.extend(managed.values().flatten().map(|g| g.id.as_str()));
    let mut association: HashMap<String, String> = HashMap::new();
    for (g, r) in profiles::group_roles(db, &group_ids).await? {
        association.entry(g).or_insert(r);
    }
    let org = |g: &Group| to_org(g, association.get(&g.id).cloned());

    let tenant_list: Vec<TenantEntry> = tenants
        .iter()
        .map(|(t, admin)| {
            let orgs: Vec<&Group> = mine.iter().filter(|g| g.tenant_id == *t).collect();
            TenantEntry {
                tenant_id: t.clone(),
                is_admin: *admin,
                manage_orgs: managed.get(t).into_iter().flatten().map(org).collect(),
                full_orgs: orgs.iter().map(|g| full_path(g, true)).collect(),
                orgs: orgs.into_iter().map(org).collect(),
                roles: held
                    .iter()
                    .filter(|r| r.tenant_id == *t)
                    .map(|r| r.id.clone())
                    .collect(),
            }
        })
        .collect();
    let role_type = if u.user_type == "ADMIN" && u.tenant_id == DEFAULT_TENANT {
        "0"
    } else if tenants.iter().any(|(_, admin)| *admin) {
        "1"
    } else {
        "3"
    };
    let mut perm_api_list: Vec<String> = Vec::new();
    let perm_list: Vec<PermEntry> = rows
        .iter()
        .map(|p| {
            let apis = api_paths(p);
            for a in &apis {
                if !perm_api_list.contains(a) {
                    perm_api_list.push(a.clone());
                }
            }
            PermEntry {
                apis,
                extra: perm_extra(p),
                key: p.id.clone(),
                app_id: p.application_id.clone(),
                perm_id: p.code.clone(),
            }
        })
        .collect();
    Ok(Some(IncUser {
        key: u.id.clone(),
        token: token.to_owned(),
        status: if u.is_active() { "ENABLE" } else { "DISABLE" },
        gender: u.gender.clone(),
        name: u.username.clone(),
        is_initial: if u.must_change_password != 0 {
            "Y"
        } else {
            "N"
        },
        mobile: u.phone.clone(),
        email: u.email.clone(),
        id: u.id.clone(),
        extra: u.attrs.0.to_string(),
        user_name: u.realname.clone().or_else(|| u.name.clone()),
        roles: held.iter().map(|r| r.id.clone()).collect(),
        birthday: u.birthdate.as_deref().and_then(iso_date),
        org: mine.iter().map(|g| g.id.clone()).collect(),
        org_name: mine.iter().map(|g| g.name.clone()).collect(),
        org_code: mine.iter().map(|g| g.code.clone()).collect(),
        role_names: held.iter().map(|r| r.name.clone()).collect(),
        role_type,
        perm_id_list: rows.iter().map(|p| p.code.clone()).collect(),
        perm_api_list,
        manage_orgs: tenant_list
            .iter()
            .flat_map(|t| t.manage_orgs.iter().cloned())
            .collect(),
        main_tenant: u.tenant_id.clone(),
        tenant: tenants.iter().map(|(t, _)| t.clone()).collect(),
        created_at: iso(u.created_at),
        login_time: u.last_login_at.map(iso),
        avatar: u.picture.clone(),
        tenant_list,
        perm_list,
    }))
}

/// `[tenant, ancestors…]` (and the group itself when `with_self`): root → leaf.
fn full_path(g: &Group, with_self: bool) -> Vec<String> {
    let mut path = vec![g.tenant_id.clone()];
    path.extend(
        g.id_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    if with_self {
        path.push(g.id.clone());
    }
    path
}

fn to_org(g: &Group, association_role: Option<String>) -> Org {
    Org {
        status: "1",
        root_id: g.tenant_id.clone(),
        org_type: g.kind.clone(),
        association_role,
        full_path: full_path(g, false),
        key: g.id.clone(),
        name: g.name.clone(),
        code: g.code.clone(),
    }
}

/// `permList[].extra`: a JSON string, like the seed's.
fn perm_extra(p: &Permission) -> String {
    let mut extra = json!({ "kind": p.kind, "name": p.name });
    if let Some(scope) = &p.data_scope.0 {
        extra["dataScope"] = scope.clone();
    }
    Value::to_string(&extra)
}

/// Unix seconds as ISO-8601 UTC with milliseconds (`2020-07-20T07:58:06.000Z`).
pub fn iso(ts: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(ts).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A `YYYY-MM-DD` birth date as the seed's Date (midnight UTC); anything else is `None`.
fn iso_date(d: &str) -> Option<String> {
    let b = d.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shape.then(|| format!("{d}T00:00:00.000Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_with_milliseconds() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_595_231_886), "2020-07-20T07:58:06.000Z");
        assert_eq!(
            iso_date("1990-02-03").as_deref(),
            Some("1990-02-03T00:00:00.000Z")
        );
        assert_eq!(iso_date("1990-2-3"), None);
        assert_eq!(iso_date("yesterday!"), None);
    }
}
