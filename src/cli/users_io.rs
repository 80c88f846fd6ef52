//! `gatehouse import users FILE` and `gatehouse export users`: users as JSON lines, one object per
//! line, in the same format both ways, so an export can be imported into another Gatehouse.
//!
//! Imported password hashes are kept as they are when they are bcrypt (`$2a$`, `$2b$`, `$2y$`) or
//! Argon2 PHC (`$argon2id$`, `$argon2i$`) strings; they become Argon2id at the user's next
//! successful login. Export leaves the hashes out unless `--with-password-hashes` is given.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::accounts::password::{self, MAX_PASSWORD_BYTES};
use crate::config::Config;
use crate::directory::validate;
use crate::store::credentials::{self, UserRecord};
use crate::store::tenants::{self, DEFAULT_TENANT};
use crate::store::{Db, StoreError, audit};
use crate::{app, clock};

/// `gatehouse import …`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import users from a JSON-lines file: one object per line with `username` and optionally
    /// `password_hash` (bcrypt $2a$/$2b$/$2y$ or Argon2 PHC, kept as is) or `password` (hashed
    /// with Argon2id), `email`, `phone`, `name`, `nickname`, `type`, `tenant_id`, `attrs`,
    /// `sys_attrs`, … (the fields `export users` writes). Valid lines are imported; invalid ones
    /// are reported with their line number and make the command exit with an error.
    Users(ImportUsers),
}

/// `gatehouse import users`
#[derive(Debug, Args)]
pub struct ImportUsers {
    /// The JSON-lines file; `-` reads standard input.
    pub file: PathBuf,
    /// Print a summary as one JSON object: {"imported": N, "failed": [{"line": N, "error": "…"}]}.
    #[arg(long)]
    pub json: bool,
}

/// `gatehouse export …`
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write users as JSON lines to standard output (deleted users are left out).
    Users(ExportUsers),
}

/// `gatehouse export users`
#[derive(Debug, Args)]
pub struct ExportUsers {
    /// Only users of this tenant (id).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Include the password hashes, for a migration to another Gatehouse. Without this flag no
    /// hash is written. Treat such an export as a secret: the hashes can be attacked offline.
    #[arg(long)]
    pub with_password_hashes: bool,
}

/// Runs `gatehouse import …`.
pub async fn import(config: &Config, cmd: ImportCommand) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::Users(args) => import_users(config, args).await,
    }
}

/// Runs `gatehouse export …`.
pub async fn export(config: &Config, cmd: ExportCommand) -> anyhow::Result<()> {
    match cmd {
        ExportCommand::Users(args) => export_users(config, args).await,
    }
}

/// A line that could not be imported.
struct Failure {
    line: usize,
    error: String,
}

async fn import_users(config: &Config, args: ImportUsers) -> anyhow::Result<()> {
    let input: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .with_context(|| format!("cannot open {}", args.file.display()))?,
        )
    };
    let mut reader = BufReader::new(input);
    let db = app::open_database(config).await?;
    let mut known_tenants = HashSet::new();
    let mut imported = 0usize;
    let mut failed = Vec::new();
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .context("reading the input")?;
        if n == 0 {
            break;
        }
        line += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                failed.push(Failure {
                    line,
                    error: "not UTF-8".into(),
                });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        match import_line(&db, &mut known_tenants, text, line).await {
            Ok(()) => imported += 1,
            Err(error) => failed.push(Failure { line, error }),
        }
    }
    db.close().await;
    if args.json {
        let failures: Vec<Value> = failed
            .iter()
            .map(|f| json!({ "line": f.line, "error": f.error }))
            .collect();
        println!("{}", json!({ "imported": imported, "failed": failures }));
    } else {
        for f in &failed {
            eprintln!("line {}: {}", f.line, f.error);
        }
        println!("imported {imported} users");
    }
    if !failed.is_empty() {
        bail!("{} lines could not be imported", failed.len());
    }
    Ok(())
}

/// Validates, hashes and inserts one line; the error is the message reported for the line.
async fn import_line(
    db: &Db,
    known_tenants: &mut HashSet<String>,
    text: &str,
    line: usize,
) -> Result<(), String> {
    let now = clock::now();
    let mut record: UserRecord = serde_json::from_str(text).map_err(|e| e.to_string())?;
    normalize(&mut record, now)?;
    if !known_tenants.contains(&record.tenant_id) {
        match tenants::find(db, &record.tenant_id).await {
            Ok(Some(_)) => {
                known_tenants.insert(record.tenant_id.clone());
            }
            Ok(None) => return Err(format!("no tenant {:?}", record.tenant_id)),
            Err(e) => return Err(e.to_string()),
        }
    }
    match (record.password.take(), &record.password_hash) {
        (Some(_), Some(_)) => return Err("give password or password_hash, not both".into()),
        (Some(pw), None) => {
            if pw.chars().count() < 8 || pw.len() > MAX_PASSWORD_BYTES {
                return Err("password: 8 characters to 1024 bytes".into());
            }
            let hash = tokio::task::spawn_blocking(move || password::hash_now(&pw))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            record.password_hash = Some(hash);
        }
        (None, Some(hash)) => {
            password::check_importable(hash).map_err(|e| format!("password_hash: {e}"))?;
        }
        (None, None) => {}
    }
    let taken = credentials::username_taken(db, &record.tenant_id, &record.username)
        .await
        .map_err(|e| e.to_string())?;
    if taken {
        return Err(format!(
            "username {:?} is taken in tenant {:?}",
            record.username, record.tenant_id
        ));
    }
    credentials::insert_imported(db, &record)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => "the id or username already exists".to_owned(),
            e => e.to_string(),
        })?;
    let entry = audit::NewEntry {
        tenant_id: Some(record.tenant_id.clone()),
        actor_type: "cli".into(),
        module: "account".into(),
        target_type: "user".into(),
        target_id: Some(record.id.clone()),
        operation: "add".into(),
        outcome: "success".into(),
        details: json!({ "username": record.username, "source": "import", "line": line }),
        ..Default::default()
    };
    audit::insert(db, &entry, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Fills defaults and checks every field by the directory's rules.
fn normalize(r: &mut UserRecord, now: i64) -> Result<(), String> {
    let msg = |e: crate::error::ApiError| match e {
        crate::error::ApiError::BadRequest { detail, .. } => detail,
        e => e.to_string(),
    };
    validate::username(&r.username).map_err(msg)?;
    if r.id.is_empty() {
        r.id = uuid::Uuid::now_v7().to_string();
    } else if r.id.len() > 64
        || !r
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("id: 1 to 64 letters, digits, '-', '_' or '.'".into());
    }
    default_to(&mut r.tenant_id, DEFAULT_TENANT);
    default_to(&mut r.user_type, "MEMBER");
    default_to(&mut r.state, "active");
    default_to(&mut r.gender, "U");
    default_to(&mut r.register_source, "import");
    validate::user_type(&r.user_type).map_err(msg)?;
    validate::state(&r.state).map_err(msg)?;
    validate::gender(&r.gender).map_err(msg)?;
    if let Some(v) = &r.email {
        validate::email(v).map_err(msg)?;
    }
    if let Some(v) = &r.phone {
        validate::phone(v).map_err(msg)?;
    }
    if let Some(v) = &r.birthdate {
        validate::birthdate(v).map_err(msg)?;
    }
    if let Some(v) = &r.picture {
        validate::url("picture", v).map_err(msg)?;
    }
    for (field, value, max) in [
        ("name", &r.name, 64),
        ("realname", &r.realname, 64),
        ("given_name", &r.given_name, 64),
        ("family_name", &r.family_name, 64),
        ("nickname", &r.nickname, 64),
        ("locale", &r.locale, 32),
        ("zoneinfo", &r.zoneinfo, 64),
        ("title", &r.title, 64),
        ("country", &r.country, 64),
        ("address", &r.address, 256),
        ("last_ip", &r.last_ip, 64),
    ] {
        if let Some(v) = value {
            validate::text(field, v, max).map_err(msg)?;
        }
    }
    validate::text("register_source", &r.register_source, 64).map_err(msg)?;
    for (field, text) in [("attrs", &mut r.attrs), ("sys_attrs", &mut r.sys_attrs)] {
        if text.is_empty() || text == "null" {
            *text = "{}".into();
        }
        if !serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) {
            return Err(format!("{field}: a JSON object"));
        }
    }
    for (field, v) in [
        ("email_verified", r.email_verified),
        ("phone_verified", r.phone_verified),
        ("must_change_password", r.must_change_password),
    ] {
        if !matches!(v, 0 | 1) {
            return Err(format!("{field}: 0 or 1"));
        }
    }
    if r.logins_count < 0 {
        return Err("logins_count: must be ≥ 0".into());
    }
    if r.created_at <= 0 {
        r.created_at = now;
    }
    if r.updated_at <= 0 {
        r.updated_at = r.created_at;
    }
    Ok(())
}

fn default_to(field: &mut String, value: &str) {
    if field.is_empty() {
        *field = value.to_owned();
    }
}

/// Rows fetched per query while exporting.
const EXPORT_BATCH: i64 = 1000;

async fn export_users(config: &Config, args: ExportUsers) -> anyhow::Result<()> {
    let db = app::open_database(config).await?;
    if let Some(t) = &args.tenant
        && tenants::find(&db, t).await?.is_none()
    {
        bail!("no tenant {t:?}");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after = String::new();
    let mut count = 0usize;
    loop {
        let page =
            credentials::export_page(&db, args.tenant.as_deref(), &after, EXPORT_BATCH).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id.clone();
        for mut user in page {
            if !args.with_password_hashes {
                user.password_hash = None;
            }
            serde_json::to_writer(&mut out, &user)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    out.flush()?;
    let entry = audit::NewEntry {
        tenant_id: args.tenant.clone(),
        actor_type: "cli".into(),
        module: "account".into(),
        target_type: "user".into(),
        operation: "export".into(),
        outcome: "success".into(),
        details: json!({
            "count": count,
            "with_password_hashes": args.with_password_hashes,
        }),
        ..Default::default()
    };
    audit::insert(&db, &entry, clock::now()).await?;
    db.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Result<UserRecord, String> {
        let mut r: UserRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
        normalize(&mut r, 1000)?;
        Ok(r)
    }

    #[test]
    fn defaults_are_filled() {
        let r = record(r#"{"username":"ann"}"#).expect("valid");
        assert_eq!(r.tenant_id, "default");
        assert_eq!(r.user_type, "MEMBER");
        assert_eq!(r.state, "active");
        assert_eq!(r.gender, "U");
        assert_eq!(r.attrs, "{}");
        assert_eq!(r.created_at, 1000);
        assert!(!r.id.is_empty());
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        for (line, needle) in [
            (r#"{"username":"a b"}"#, "username"),
            (r#"{"username":"ann","type":"ROOT"}"#, "type"),
            (r#"{"username":"ann","email":"nope"}"#, "email"),
            (r#"{"username":"ann","attrs":[1]}"#, "attrs"),
            (r#"{"username":"ann","is_admin":1}"#, "unknown field"),
            (r#"{"username":"ann","id":"a/b"}"#, "id"),
            (r#"{"username":"ann","email_verified":2}"#, "email_verified"),
            (r#"{"name":"ann"}"#, "username"),
        ] {
            let err = record(line).expect_err(line);
            assert!(err.contains(needle), "{line}: {err}");
        }
    }

    #[test]
    fn attrs_round_trip_as_objects() {
        let r =
            record(r#"{"username":"ann","attrs":{"a":{"b":1}},"sys_attrs":null}"#).expect("valid");
        assert_eq!(r.sys_attrs, "{}");
        let out = serde_json::to_value(&r).expect("json");
        assert_eq!(out["attrs"], json!({"a": {"b": 1}}));
        assert!(out.get("password").is_none());
        assert!(out.get("password_hash").is_none());
    }
}
