//! Sign-in credentials: the login lookup (the only query besides export that reads a password
//! hash), login bookkeeping, password changes, single-use reset links, and the bulk import and
//! export of users by the CLI.

use serde::{Deserialize, Serialize};

use super::{Db, StoreResult};

/// What the login page needs to decide about an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignIn {
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub password_hash: Option<String>,
    /// `active` or `inactive`.
    pub state: String,
    /// End of the trial period (unix seconds), if any.
    pub trial_end_at: Option<i64>,
    /// Set by an administrator's reset: a new password must be chosen before signing in.
    pub must_change_password: i64,
    /// Soft-deletion time, if deleted.
    pub deleted_at: Option<i64>,
}

/// Why an account with a correct password still may not sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Deleted,
    Disabled,
    TrialExpired,
}

impl Refusal {
    /// The reason as written in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Deleted => "deleted",
            Refusal::Disabled => "disabled",
            Refusal::TrialExpired => "trial_expired",
        }
    }
}

impl SignIn {
    /// `None` when the account may sign in at `now`, else why not.
    pub fn refusal(&self, now: i64) -> Option<Refusal> {
        if self.deleted_at.is_some() {
            Some(Refusal::Deleted)
        } else if self.state != "active" {
            Some(Refusal::Disabled)
        } else if self.trial_end_at.is_some_and(|end| end <= now) {
            Some(Refusal::TrialExpired)
        } else {
            None
        }
    }

    /// Whether the account must choose a new password before signing in.
    pub fn must_change_password(&self) -> bool {
        self.must_change_password != 0
    }
}

const SIGN_IN_COLUMNS: &str =
    "id, tenant_id, username, password_hash, state, trial_end_at, must_change_password, deleted_at";

/// The account `username` of `tenant_id`, deleted or not (the caller refuses deleted ones).
pub async fn find_by_username(
    db: &Db,
    tenant_id: &str,
    username: &str,
) -> StoreResult<Option<SignIn>> {
    let sql = format!("SELECT {SIGN_IN_COLUMNS} FROM users WHERE tenant_id = $1 AND username = $2");
    Ok(sqlx::query_as::<_, SignIn>(&sql)
        .bind(tenant_id)
        .bind(username)
        .fetch_optional(db.pool())
        .await?)
}

/// The account `id`, unless deleted.
pub async fn find_by_id(db: &Db, id: &str) -> StoreResult<Option<SignIn>> {
    let sql = format!("SELECT {SIGN_IN_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    Ok(sqlx::query_as::<_, SignIn>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// Records a successful sign-in: time, source address and count.
pub async fn record_login(db: &Db, id: &str, ip: Option<&str>, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET last_login_at = $2, last_ip = $3, logins_count = logins_count + 1 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(ip)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Replaces the stored hash of the same password (upgrade to current parameters at login).
pub async fn upgrade_hash(db: &Db, id: &str, hash: &str) -> StoreResult<()> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Stores a password the user chose and clears `must_change_password`.
pub async fn set_password(db: &Db, id: &str, hash: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, must_change_password = 0, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A password reset link as stored (the token itself is never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reset {
    pub user_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Reset {
    /// Whether the link may still be used at `now`.
    pub fn usable(&self, now: i64) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// The reset link whose token hashes to `token_hash`.
pub async fn find_reset(db: &Db, token_hash: &str) -> StoreResult<Option<Reset>> {
    Ok(sqlx::query_as::<_, Reset>(
        "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?)
}

/// Marks the link used if it still is usable, atomically: of two concurrent uses only one gets
/// the user id.
pub async fn consume_reset(db: &Db, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
    let done = sqlx::query(
        "UPDATE password_resets SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .execute(db.pool())
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    Ok(find_reset(db, token_hash).await?.map(|r| r.user_id))
}

/// A user as the CLI imports and exports it: one JSON object per line. Export writes every field;
/// import requires `username` and takes the others when present.
#[derive(Debug, Clone, Default, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// Kept on import when given (so `sub` claims survive a migration), else generated.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub tenant_id: String,
    pub username: String,
    /// Exported only with `--with-password-hashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Import only: a plain password to hash with Argon2id. Never exported.
    #[serde(default, skip_serializing)]
    #[sqlx(skip)]
    pub password: Option<String>,
    /// `ADMIN` or `MEMBER`.
    #[serde(rename = "type", default)]
    pub user_type: String,
    /// `active` or `inactive`.
    #[serde(default)]
    pub state: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: i64,
    pub phone: Option<String>,
    #[serde(default)]
    pub phone_verified: i64,
    pub name: Option<String>,
    pub realname: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    #[serde(default)]
    pub gender: String,
    pub birthdate: Option<String>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub title: Option<String>,
    pub country: Option<String>,
    pub address: Option<String>,
    /// JSON object (as text in the database).
    #[serde(default, with = "json_text")]
    pub attrs: String,
    /// JSON object (as text in the database).
    #[serde(default, with = "json_text")]
    pub sys_attrs: String,
    pub trial_end_at: Option<i64>,
    #[serde(default)]
    pub must_change_password: i64,
    #[serde(default)]
    pub register_source: String,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
    pub last_ip: Option<String>,
    #[serde(default)]
    pub logins_count: i64,
}

/// JSON objects kept as TEXT: written out as objects, read as any JSON value and stored as text
/// (the importer checks that it is an object).
mod json_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(v.to_string())
    }
}

/// The lower-cased text the user search matches.
fn search_text(r: &UserRecord) -> String {
    super::user_search::search_words([
        Some(r.username.as_str()),
        r.nickname.as_deref(),
        r.name.as_deref(),
        r.realname.as_deref(),
        r.email.as_deref(),
        r.phone.as_deref(),
    ])
}

/// Inserts an imported user and its membership of its main tenant, in one transaction. A taken
/// id or username is `StoreError::Conflict`.
pub async fn insert_imported(db: &Db, r: &UserRecord) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, username, password_hash, user_type, state, email, \
         email_verified, phone, phone_verified, name, realname, given_name, family_name, nickname, \
         picture, gender, birthdate, locale, zoneinfo, title, country, address, attrs, sys_attrs, \
         trial_end_at, must_change_password, register_source, created_at, updated_at, \
         last_login_at, last_ip, logins_count, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
         $26, $27, $28, $29, $30, $31, $32, $33, $34)",
    )
    .bind(&r.id)
    .bind(&r.tenant_id)
    .bind(&r.username)
    .bind(&r.password_hash)
    .bind(&r.user_type)
    .bind(&r.state)
    .bind(&r.email)
    .bind(r.email_verified)
    .bind(&r.phone)
    .bind(r.phone_verified)
    .bind(&r.name)
    .bind(&r.realname)
    .bind(&r.given_name)
    .bind(&r.family_name)
    .bind(&r.nickname)
    .bind(&r.picture)
    .bind(&r.gender)
    .bind(&r.birthdate)
    .bind(&r.locale)
    .bind(&r.zoneinfo)
    .bind(&r.title)
    .bind(&r.country)
    .bind(&r.address)
    .bind(&r.attrs)
    .bind(&r.sys_attrs)
    .bind(r.trial_end_at)
    .bind(r.must_change_password)
    .bind(&r.register_source)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.last_login_at)
    .bind(&r.last_ip)
    .bind(r.logins_count)
    .bind(search_text(r))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_members (tenant_id, user_id, is_admin, created_at) \
         VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&r.tenant_id)
    .bind(&r.id)
    .bind(r.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a username is taken in a tenant (deleted users included: their rows keep it unless
/// the users store renamed them).
pub async fn username_taken(db: &Db, tenant_id: &str, username: &str) -> StoreResult<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND username = $2")
            .bind(tenant_id)
            .bind(username)
            .fetch_one(db.pool())
            .await?;
    Ok(n > 0)
}

const EXPORT_COLUMNS: &str = "id, tenant_id, username, password_hash, user_type, state, email, \
    email_verified, phone, phone_verified, name, realname, given_name, family_name, nickname, \
    picture, gender, birthdate, locale, zoneinfo, title, country, address, attrs, sys_attrs, \
    trial_end_at, must_change_password, register_source, created_at, updated_at, last_login_at, \
    last_ip, logins_count";

/// Up to `limit` users (not deleted) with an id after `after`, by id; of one tenant or all.
pub async fn export_page(
    db: &Db,
    tenant_id: Option<&str>,
    after: &str,
    limit: i64,
) -> StoreResult<Vec<UserRecord>> {
    let rows = match tenant_id {
        Some(t) => {
            let sql = format!(
                "SELECT {EXPORT_COLUMNS} FROM users WHERE deleted_at IS NULL AND id > $1 \
                 AND tenant_id = $3 ORDER BY id LIMIT $2"
            );
            sqlx::query_as::<_, UserRecord>(&sql)
                .bind(after)
                .bind(limit)
                .bind(t)
                .fetch_all(db.pool())
                .await?
        }
        None => {
            let sql = format!(
                "SELECT {EXPORT_COLUMNS} FROM users WHERE deleted_at IS NULL AND id > $1 \
                 ORDER BY id LIMIT $2"
            );
            sqlx::query_as::<_, UserRecord>(&sql)
                .bind(after)
                .bind(limit)
                .fetch_all(db.pool())
                .await?
        }
    };
    Ok(rows)
}
