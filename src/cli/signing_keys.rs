//! `gatehouse keys init|rotate|list`: the signing keys in the (shared) keys directory. Running
//! servers follow the directory by themselves; nothing here talks to them.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::jwt::Alg;
use crate::keys::{self, KeyInfo, schedule};
use crate::oauth::provider::{self, Lifetimes};
use crate::{app, clock};

/// `gatehouse keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate any missing key in the keys directory.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// Write a new signing key per algorithm: published at once, signing after the publish
    /// lead; the keys it supersedes stay published until every token they signed has expired.
    /// Also deletes key files retired for longer than that.
    Rotate(Rotate),
    /// Every key file with its state (next, active, retiring, retired).
    List {
        #[arg(long)]
        json: bool,
    },
}

/// `gatehouse keys rotate`
#[derive(Debug, Args)]
pub struct Rotate {
    /// Algorithm to rotate (RS256, ES256, EdDSA); repeat for several. Default: all three.
    #[arg(long = "alg")]
    pub algs: Vec<String>,
    /// Seconds between publishing the new keys and signing with them (default:
    /// GATEHOUSE_KEY_PUBLISH_LEAD, 600). 0 signs at once (emergency rotation).
    #[arg(long)]
    pub publish_lead: Option<i64>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `keys` subcommand.
pub async fn run(config: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    crate::jwt::ring_provider::install();
    match cmd {
        KeysCommand::Init { json } => init(config, json),
        KeysCommand::Rotate(args) => rotate(config, args).await,
        KeysCommand::List { json } => list(config, json).await,
    }
}

fn init(config: &Config, json: bool) -> anyhow::Result<()> {
    // States only for display: the per-application ID token lifetimes are not consulted.
    let retention = Lifetimes::from_config(config).key_retention(None);
    let set = keys::KeySet::load_or_generate(&config.keys_dir, clock::now(), retention)?;
    if json {
        println!("{}", json!({ "keys": set.describe() }));
    } else {
        for k in set.describe() {
            println!("{}  {}", k.alg, k.kid);
        }
    }
    Ok(())
}

/// The retention window, with the applications' own ID token lifetimes from the database.
async fn retention(config: &Config) -> anyhow::Result<i64> {
    let db = app::open_database(config).await?;
    let retention = provider::key_retention(&db, &Lifetimes::from_config(config)).await;
    db.close().await;
    Ok(retention?)
}

fn parse_algs(names: &[String]) -> anyhow::Result<Vec<Alg>> {
    if names.is_empty() {
        return Ok(Alg::ALL.to_vec());
    }
    let mut algs = Vec::new();
    for name in names {
        let alg = Alg::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
            .with_context(|| format!("unknown algorithm {name:?} (use RS256, ES256 or EdDSA)"))?;
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    Ok(algs)
}

async fn rotate(config: &Config, args: Rotate) -> anyhow::Result<()> {
    let lead = args.publish_lead.unwrap_or(config.key_publish_lead);
    if lead < 0 {
        bail!("--publish-lead must not be negative");
    }
    let algs = parse_algs(&args.algs)?;
    let retention = retention(config).await?;
    let dir = &config.keys_dir;
    let created = keys::rotate(dir, &algs, clock::now() + lead)?;
    let now = clock::now();
    let pruned = keys::prune(dir, now, retention);
    let keys::Inventory {
        keys: listed,
        broken,
    } = keys::inventory(dir, now, retention)?;
    if lead < schedule::JWKS_MAX_AGE {
        eprintln!(
            "warning: /jwks may be cached for {} s; relying parties that do not refetch it on an \
             unknown kid may refuse tokens signed in the first {} s",
            schedule::JWKS_MAX_AGE,
            schedule::JWKS_MAX_AGE - lead
        );
    }
    warn_broken(&broken);
    if args.json {
        println!(
            "{}",
            json!({
                "created": created,
                "pruned": pruned,
                "publish_lead": lead,
                "retention": retention,
                "keys": listed,
            })
        );
        return Ok(());
    }
    for k in &created {
        println!(
            "{:<6} {}  published now, signs from {} ({})",
            k.alg,
            k.kid,
            k.signs_from,
            utc(k.signs_from)
        );
    }
    for name in &pruned {
        println!("pruned {name}");
    }
    print_table(&listed, retention);
    Ok(())
}

async fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let retention = retention(config).await?;
    let keys::Inventory {
        keys: listed,
        broken,
    } = keys::inventory(&config.keys_dir, clock::now(), retention)?;
    warn_broken(&broken);
    if json {
        println!("{}", json!({ "retention": retention, "keys": listed }));
    } else {
        print_table(&listed, retention);
    }
    Ok(())
}

fn warn_broken(broken: &[(String, String)]) {
    for (file, error) in broken {
        eprintln!("warning: {file} cannot be loaded and is ignored: {error}");
    }
}

fn print_table(keys: &[KeyInfo], retention: i64) {
    println!(
        "{:<9} {:<6} {:<21} {:<44} file",
        "state", "alg", "signs from (UTC)", "kid"
    );
    for k in keys {
        let until = k
            .retires_at
            .map(|t| format!("  (until {})", utc(t)))
            .unwrap_or_default();
        println!(
            "{:<9} {:<6} {:<21} {:<44} {}{until}",
            k.state.as_str(),
            k.alg,
            utc(k.signs_from),
            k.kid,
            k.file
        );
    }
    println!("superseded keys stay published for {retention} s after their successor signs");
}

/// `2025-01-31T12:00:00Z` for a unix time.
fn utc(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms() {
        assert_eq!(parse_algs(&[]).unwrap_or_default(), Alg::ALL.to_vec());
        let some = parse_algs(&["es256".into(), "EdDSA".into(), "ES256".into()]);
        assert_eq!(some.unwrap_or_default(), vec![Alg::ES256, Alg::EdDSA]);
        assert!(parse_algs(&["HS256".into()]).is_err());
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }
}
