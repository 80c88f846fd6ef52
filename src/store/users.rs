//! Users. The password hash is read only by `find_credentials`, so no other row type can leak it
//! [`User`] has no hash field and no query here selects `password_hash` into it.
//!
//! Soft delete: the row stays (audit, foreign keys) with `deleted_at` set; its username is
//! rewritten to `<username>#deleted#<id>` (`#` is never valid in a username) and the original is
//! kept in `deleted_username`, which frees the name for a new account. SQLite cannot drop the
//! `UNIQUE (tenant_id, username)` table constraint of migration 0001 without rebuilding `users`, so
//! both backends do it this way.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::audit::JsonText;
use super::{Db, StoreError, StoreResult};

// Listing, search and exact lookups live in `user_search`; callers keep the `users::` paths.
pub use super::user_search::{
    ExactField, Filter, find_by_sys_attr, find_exact, find_many, list, search_text,
};
// The attrs / sys_attrs merge lives in `user_attrs`.
pub use super::user_attrs::{AttrColumn, merge_attrs};

/// A user as every non-authentication code path sees it (no password hash).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    /// Main tenant.
    pub tenant_id: String,
    pub username: String,
    /// `ADMIN` or `MEMBER` (seed 000).
    #[serde(rename = "type")]
    pub user_type: String,
    /// `active` or `inactive`.
    pub state: String,
    pub email: Option<String>,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub email_verified: i64,
    pub phone: Option<String>,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub phone_verified: i64,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    /// Avatar URL (the OIDC `picture` claim).
    #[serde(rename = "avatar")]
    pub picture: Option<String>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub address: Option<String>,
    /// Name in the local script (seed 001).
    pub realname: Option<String>,
    /// `M`, `F` or `U`.
    pub gender: String,
    /// `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    pub title: Option<String>,
    pub country: Option<String>,
    /// User-editable extension attributes (JSON object).
    #[schema(value_type = Object)]
    #[sqlx(try_from = "String")]
    pub attrs: JsonText,
    /// Administrator-only extension attributes (JSON object).
    #[schema(value_type = Object)]
    #[sqlx(try_from = "String")]
    pub sys_attrs: JsonText,
    /// End of the trial period (unix seconds); `None` = a regular account.
    pub trial_end_at: Option<i64>,
    pub last_ip: Option<String>,
    pub logins_count: i64,
    pub register_source: String,
    /// Set by an administrator's password reset: the next sign-in must choose a new password.
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub must_change_password: i64,
    /// The bootstrap super administrator: can be neither deleted nor disabled.
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub builtin: i64,
    /// Sessions that signed in before this time are invalid.
    pub not_before: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
}

fn as_bool<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

impl User {
    /// Only active, not deleted users may sign in or use tokens.
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }

    /// Whether the account may sign in or act at `now`: active and not past its trial.
    pub fn may_sign_in(&self, now: i64) -> bool {
        self.is_active() && self.trial_end_at.is_none_or(|end| end > now)
    }

    /// Whether this is the built-in super administrator.
    pub fn is_builtin(&self) -> bool {
        self.builtin != 0
    }
}

/// What login needs: the id, the stored hash and whether the account may sign in.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub id: String,
    pub password_hash: Option<String>,
    pub state: String,
}

/// Fields of a new user (the short form used by the CLI; see [`NewAccount`] for all fields).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub tenant_id: String,
    pub username: String,
    pub password_hash: String,
    pub user_type: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// The profile fields an administrator edits (`None` = not set).
#[derive(Debug, Clone)]
pub struct Profile {
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub address: Option<String>,
    pub realname: Option<String>,
    /// `M`, `F` or `U`.
    pub gender: String,
    pub birthdate: Option<String>,
    pub title: Option<String>,
    pub country: Option<String>,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            email: None,
            email_verified: false,
            phone: None,
            phone_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            nickname: None,
            picture: None,
            locale: None,
            zoneinfo: None,
            address: None,
            realname: None,
            gender: "U".into(),
            birthdate: None,
            title: None,
            country: None,
        }
    }
}

impl Profile {
    /// The stored profile of a user.
    pub fn of(u: &User) -> Self {
        Self {
            email: u.email.clone(),
            email_verified: u.email_verified != 0,
            phone: u.phone.clone(),
            phone_verified: u.phone_verified != 0,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            nickname: u.nickname.clone(),
            picture: u.picture.clone(),
            locale: u.locale.clone(),
            zoneinfo: u.zoneinfo.clone(),
            address: u.address.clone(),
            realname: u.realname.clone(),
            gender: u.gender.clone(),
            birthdate: u.birthdate.clone(),
            title: u.title.clone(),
            country: u.country.clone(),
        }
    }
}

/// Every field of a new user.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub tenant_id: String,
    pub username: String,
    /// `None`: the account has no password (cannot sign in with one).
    pub password_hash: Option<String>,
    pub user_type: String,
    pub profile: Profile,
    pub attrs: Map<String, Value>,
    pub sys_attrs: Map<String, Value>,
    pub trial_end_at: Option<i64>,
    pub register_source: String,
    pub must_change_password: bool,
    pub builtin: bool,
}

/// The columns of [`User`], for `SELECT`.
pub(super) const USER_COLUMNS: &str = "id, tenant_id, username, user_type, state, email, \
    email_verified, phone, phone_verified, name, given_name, family_name, nickname, picture, \
    locale, zoneinfo, address, realname, gender, birthdate, title, country, attrs, sys_attrs, \
    trial_end_at, last_ip, logins_count, register_source, must_change_password, builtin, \
    not_before, created_at, updated_at, last_login_at";

/// Inserts a user; a taken username is `StoreError::Conflict`.
pub async fn insert(db: &Db, new: &NewUser, now: i64) -> StoreResult<User> {
    let account = NewAccount {
        tenant_id: new.tenant_id.clone(),
        username: new.username.clone(),
        password_hash: Some(new.password_hash.clone()),
        user_type: new.user_type.clone(),
        profile: Profile {
            email: new.email.clone(),
            name: new.name.clone(),
            ..Profile::default()
        },
        attrs: Map::new(),
        sys_attrs: Map::new(),
        trial_end_at: None,
        register_source: String::new(),
        must_change_password: false,
        builtin: false,
    };
    insert_account(db, &account, now).await
}

/// Inserts a user with every field, and its membership of its main tenant, in one transaction;
/// a taken username is `StoreError::Conflict`.
pub async fn insert_account(db: &Db, a: &NewAccount, now: i64) -> StoreResult<User> {
    let id = uuid::Uuid::now_v7().to_string();
    let p = &a.profile;
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, username, password_hash, user_type, state, email, \
         email_verified, phone, phone_verified, name, given_name, family_name, nickname, picture, \
         locale, zoneinfo, address, realname, gender, birthdate, title, country, attrs, sys_attrs, \
         trial_end_at, register_source, must_change_password, builtin, search_text, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $30)",
    )
    .bind(&id)
    .bind(&a.tenant_id)
    .bind(&a.username)
    .bind(&a.password_hash)
    .bind(&a.user_type)
    .bind(&p.email)
    .bind(super::flag(p.email_verified))
    .bind(&p.phone)
    .bind(super::flag(p.phone_verified))
    .bind(&p.name)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(&p.nickname)
    .bind(&p.picture)
    .bind(&p.locale)
    .bind(&p.zoneinfo)
    .bind(&p.address)
    .bind(&p.realname)
    .bind(&p.gender)
    .bind(&p.birthdate)
    .bind(&p.title)
    .bind(&p.country)
    .bind(serde_json::to_string(&a.attrs)?)
    .bind(serde_json::to_string(&a.sys_attrs)?)
    .bind(a.trial_end_at)
    .bind(&a.register_source)
    .bind(super::flag(a.must_change_password))
    .bind(super::flag(a.builtin))
    .bind(search_text(&a.username, p))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_members (tenant_id, user_id, is_admin, created_at) \
         VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&a.tenant_id)
    .bind(&id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    find(db, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted user not found".into()))
}

/// A user by id, unless deleted.
pub async fn find(db: &Db, id: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// A user by tenant and username, unless deleted.
pub async fn find_by_username(
    db: &Db,
    tenant_id: &str,
    username: &str,
) -> StoreResult<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND username = $2 \
         AND deleted_at IS NULL"
    );
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(tenant_id)
        .bind(username)
        .fetch_optional(db.pool())
        .await?)
}

/// Login lookup by tenant and username.
pub async fn find_credentials(
    db: &Db,
    tenant_id: &str,
    username: &str,
) -> StoreResult<Option<Credentials>> {
    Ok(sqlx::query_as::<_, Credentials>(
        "SELECT id, password_hash, state FROM users \
         WHERE tenant_id = $1 AND username = $2 AND deleted_at IS NULL",
    )
    .bind(tenant_id)
    .bind(username)
    .fetch_optional(db.pool())
    .await?)
}

/// Number of administrators (bootstrap: create the first one only when there is none).
pub async fn count_admins(db: &Db) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE user_type = 'ADMIN'")
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// Records a successful login.
pub async fn record_login(db: &Db, id: &str, now: i64) -> StoreResult<()> {
    record_login_from(db, id, None, now).await
}

/// Records a successful login: time, count and (when known) the client's IP address.
pub async fn record_login_from(db: &Db, id: &str, ip: Option<&str>, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET last_login_at = $2, logins_count = logins_count + 1, \
         last_ip = COALESCE($3, last_ip) WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(ip)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Replaces the password hash (re-hash on login when parameters changed).
pub async fn update_password_hash(db: &Db, id: &str, hash: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Sets (or, with `None`, removes) the password and whether the next sign-in must change it.
pub async fn set_password(
    db: &Db,
    id: &str,
    hash: Option<&str>,
    must_change: bool,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .bind(super::flag(must_change))
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Replaces the profile fields and the user type; recomputes the search text.
pub async fn update_profile(
    db: &Db,
    id: &str,
    p: &Profile,
    user_type: &str,
    now: i64,
) -> StoreResult<()> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT username FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    let Some((username,)) = row else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE users SET email = $2, email_verified = $3, phone = $4, phone_verified = $5, \
         name = $6, given_name = $7, family_name = $8, nickname = $9, picture = $10, \
         locale = $11, zoneinfo = $12, address = $13, realname = $14, gender = $15, \
         birthdate = $16, title = $17, country = $18, user_type = $19, search_text = $20, \
         updated_at = $21 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(&p.email)
    .bind(super::flag(p.email_verified))
    .bind(&p.phone)
    .bind(super::flag(p.phone_verified))
    .bind(&p.name)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(&p.nickname)
    .bind(&p.picture)
    .bind(&p.locale)
    .bind(&p.zoneinfo)
    .bind(&p.address)
    .bind(&p.realname)
    .bind(&p.gender)
    .bind(&p.birthdate)
    .bind(&p.title)
    .bind(&p.country)
    .bind(user_type)
    .bind(search_text(&username, p))
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Sets the state (`active` / `inactive`).
pub async fn set_state(db: &Db, id: &str, state: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET state = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(state)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Sets the end of the trial; `None` makes the account a regular one.
pub async fn set_trial_end(db: &Db, id: &str, end: Option<i64>, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET trial_end_at = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(end)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Sessions that signed in before `at` are no longer valid.
pub async fn set_not_before(db: &Db, id: &str, at: i64) -> StoreResult<()> {
    sqlx::query("UPDATE users SET not_before = $2 WHERE id = $1 AND not_before < $2")
        .bind(id)
        .bind(at)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Soft-deletes a user: marks it deleted and inactive, frees its username (kept in
/// `deleted_username`), ends its sessions (`not_before`) and drops its role, group and tenant
/// memberships, in one transaction. False if it was already deleted or unknown.
pub async fn soft_delete(db: &Db, id: &str, now: i64) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await?;
    let done = sqlx::query(
        "UPDATE users SET deleted_at = $2, deleted_username = username, \
         username = username || '#deleted#' || id, state = 'inactive', not_before = $2, \
         updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    for sql in [
        "DELETE FROM user_roles WHERE user_id = $1",
        "DELETE FROM group_members WHERE user_id = $1",
        "DELETE FROM tenant_members WHERE user_id = $1",
        "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
    ] {
        let q = sqlx::query(sql).bind(id);
        let q = if sql.contains("$2") { q.bind(now) } else { q };
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Stores a password-reset token (by hash) for a user; earlier unused tokens stop working.
pub async fn create_reset_token(
    db: &Db,
    user_id: &str,
    token_hash: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
