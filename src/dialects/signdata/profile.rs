//! Seed 001's user object (`POST /auth/login`, `GET /auth/self`) and the user part of
//! `signdata`, read from the directory.
//!
//! Mapping: `company` = the user's main tenant, `department` = the user's first group in that
//! tenant (`null` when none), `roles` = direct and group-inherited roles, `isAdmin` = an `ADMIN`
//! user or an administrator member of the main tenant, `isOwner` = the tenant's `owner` is this
//! username, `permissions` = the codes of the items granted for the application asking (none
//! without one). Never the API key (`token`) nor any hash (`md5sum`): both are omitted.

use serde_json::{Value, json};

use super::{Claims, RoleRef, TenantRef};
use crate::oauth::OAuthError;
use crate::store::Db;
use crate::store::groups::{self, Group};
use crate::store::permissions::{self, Subject};
use crate::store::roles::{self, Role};
use crate::store::tenants::{self, Tenant};
use crate::store::users::{self, User};

/// A user with what seed 001 shows about them.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub tenant: Option<Tenant>,
    pub roles: Vec<Role>,
    pub department: Option<Group>,
    pub is_admin: bool,
    /// `(application id, granted item codes)` when an application asked.
    pub permissions: Option<(String, Vec<String>)>,
}

/// The user (unless deleted) with tenant, roles, department and, for `app`, permissions.
pub async fn load(
    db: &Db,
    user_id: &str,
    app: Option<&str>,
) -> Result<Option<Account>, OAuthError> {
    let Some(user) = users::find(db, user_id).await? else {
        return Ok(None);
    };
    let tenant = tenants::get(db, &user.tenant_id).await?;
    let roles = roles::of_user(db, &user.id, true).await?;
    let department = groups::of_user(db, &user.id)
        .await?
        .into_iter()
        .find(|g| g.tenant_id == user.tenant_id);
    let is_admin = user.user_type == "ADMIN"
        || permissions::admin_tenants(db, &user.id)
            .await?
            .contains(&user.tenant_id);
    let permissions = match app {
        Some(app) => {
            let mut codes: Vec<String> =
                permissions::granted_items(db, Subject::User(&user.id), app)
                    .await?
                    .into_iter()
                    .map(|i| i.code)
                    .collect();
            codes.sort();
            codes.dedup();
            Some((app.to_owned(), codes))
        }
        None => None,
    };
    Ok(Some(Account {
        user,
        tenant,
        roles,
        department,
        is_admin,
        permissions,
    }))
}

/// A unix time as JavaScript's `Date.toJSON()` writes it (`2020-06-28T10:00:00.000Z`).
pub fn js_date(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => String::new(),
    }
}

impl Account {
    fn display_name(&self) -> String {
        self.user
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.user.username.clone())
    }

    fn is_owner(&self) -> bool {
        self.tenant
            .as_ref()
            .is_some_and(|t| !t.owner.is_empty() && t.owner == self.user.username)
    }

    fn department(&self) -> Value {
        self.department
            .as_ref()
            .map_or(Value::Null, |g| json!({ "id": g.id, "name": g.name }))
    }

    fn roles(&self) -> Vec<Value> {
        self.roles
            .iter()
            .map(|r| json!({ "id": r.id, "name": r.name }))
            .collect()
    }

    fn codes(&self) -> &[String] {
        self.permissions.as_ref().map_or(&[], |(_, c)| c.as_slice())
    }

    /// The `POST /auth/login` object (seed 001 L145–176); `code` when one was asked for.
    pub fn login_object(&self, code: Option<&str>) -> Value {
        let u = &self.user;
        let company = self
            .tenant
            .as_ref()
            .map_or(Value::Null, |t| json!({ "id": t.id, "name": t.name }));
        let permissions = match &self.permissions {
            Some((app, codes)) => json!({ app.as_str(): codes }),
            None => json!({}),
        };
        let mut v = json!({
            "id": u.id,
            "avatar": u.picture,
            "country": u.country,
            "created": js_date(u.created_at),
            "email": u.email,
            "name": self.display_name(),
            "phone": u.phone,
            "realname": u.realname,
            "state": u.state,
            "updated": js_date(u.updated_at),
            "username": u.username,
            "isOwner": self.is_owner(),
            "isAdmin": self.is_admin,
            "company": company,
            "department": self.department(),
            "roles": self.roles(),
            "permissions": permissions,
        });
        if let Some(code) = code {
            v["code"] = json!(code);
        }
        v
    }

    /// The `GET /auth/self` object (seed 001 L281–304); `permissions` is the array of codes.
    pub fn self_object(&self, code: Option<&str>) -> Value {
        let u = &self.user;
        let company = self.tenant.as_ref().map_or(Value::Null, |t| {
            json!({ "id": t.id, "name": t.name, "owner": t.owner, "logo": t.logo, "title": t.title })
        });
        let mut v = json!({
            "company": company,
            "department": self.department(),
            "isOwner": self.is_owner(),
            "isAdmin": self.is_admin,
            "email": u.email,
            "id": u.id,
            "name": self.display_name(),
            "permissions": self.codes(),
            "realname": u.realname,
            "roles": self.roles(),
            "state": u.state,
            "username": u.username,
        });
        if let Some(code) = code {
            v["code"] = json!(code);
        }
        v
    }

    /// The user part of `signdata`; the caller fills the envelope fields.
    pub fn claims(
        &self,
        iss: &str,
        aud: &str,
        scope: Option<&str>,
        iat: i64,
        jti: String,
    ) -> Claims {
        let tenant = match &self.tenant {
            Some(t) => TenantRef {
                id: t.id.clone(),
                code: t.code.clone(),
                name: t.name.clone(),
            },
            None => TenantRef {
                id: self.user.tenant_id.clone(),
                code: String::new(),
                name: String::new(),
            },
        };
        Claims {
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            sub: self.user.id.clone(),
            id: self.user.id.clone(),
            username: self.user.username.clone(),
            name: self.display_name(),
            tenant,
            roles: self
                .roles
                .iter()
                .map(|r| RoleRef {
                    id: r.id.clone(),
                    code: r.code.clone(),
                    name: r.name.clone(),
                })
                .collect(),
            scope: scope.map(str::to_owned),
            iat,
            exp: iat + super::TTL,
            jti,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_written_like_javascript() {
        assert_eq!(super::js_date(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::js_date(1_593_338_400), "2020-06-28T10:00:00.000Z");
    }
}
