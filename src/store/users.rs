//! Users. The password hash is read only by `find_credentials`, so no other row type can leak it.

use serde::Serialize;

use super::{Db, StoreResult};

/// A user as every non-authentication code path sees it (no password hash).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub user_type: String,
    pub state: String,
    pub email: Option<String>,
    pub email_verified: i64,
    pub phone: Option<String>,
    pub phone_verified: i64,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub address: Option<String>,
    pub updated_at: i64,
    /// End of the trial period (unix seconds); `None` = a regular account.
    pub trial_end_at: Option<i64>,
    /// Sessions that signed in before this time are invalid.
    pub not_before: i64,
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
}

/// What login needs: the id, the stored hash and whether the account may sign in.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub id: String,
    pub password_hash: Option<String>,
    pub state: String,
}

/// Fields of a new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub tenant_id: String,
    pub username: String,
    pub password_hash: String,
    pub user_type: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

const USER_COLUMNS: &str = "id, tenant_id, username, user_type, state, email, email_verified, \
    phone, phone_verified, name, given_name, family_name, nickname, picture, locale, zoneinfo, \
    address, updated_at, trial_end_at, not_before";

/// Inserts a user; a taken username is `StoreError::Conflict`.
pub async fn insert(db: &Db, new: &NewUser, now: i64) -> StoreResult<User> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO users (id, tenant_id, username, password_hash, user_type, state, email, name, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(&new.tenant_id)
    .bind(&new.username)
    .bind(&new.password_hash)
    .bind(&new.user_type)
    .bind(&new.email)
    .bind(&new.name)
    .bind(now)
    .execute(db.pool())
    .await?;
    find(db, &id)
        .await?
        .ok_or_else(|| super::StoreError::Corrupt("inserted user not found".into()))
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
    sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
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
