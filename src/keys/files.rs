//! The files of the keys directory: key file names (`<alg>-<signs from>.pem`), PEM, key
//! generation, and writes that an instance scanning the directory at the same moment never sees
//! half done.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair};

use crate::jwt::Alg;

pub(super) const RSA_BITS: usize = 2048;
/// Temporary files left by a crashed writer are deleted by the prune after this long.
const STALE_TEMP_SECS: u64 = 3600;
/// Marker of temporary files (never ends in `.pem`, so scans ignore them).
const TEMP_MARK: &str = ".tmp-";

/// A key file, known by its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    pub alg: Alg,
    /// Unix time from which the key signs.
    pub signs_from: i64,
    /// File name inside the keys directory.
    pub name: String,
}

impl KeyFile {
    /// The file of a key of `alg` that signs from `signs_from`.
    pub fn new(alg: Alg, signs_from: i64) -> Self {
        Self {
            alg,
            signs_from,
            name: format!("{}-{signs_from}.pem", alg.as_str().to_lowercase()),
        }
    }

    /// Parses `<alg>-<unix time>.pem` (algorithm in any case).
    pub fn parse(name: &str) -> Option<Self> {
        let (alg, time) = name.strip_suffix(".pem")?.split_once('-')?;
        let alg = Alg::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(alg))?;
        Some(Self {
            alg,
            signs_from: time.parse().ok()?,
            name: name.to_owned(),
        })
    }
}

/// Every key file in `dir`, sorted by algorithm, signs-from and name (the schedule's tie order).
/// Only names are read: cheap enough to run every half second.
pub fn key_files(dir: &Path) -> std::io::Result<Vec<KeyFile>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(file) = entry.file_name().to_str().and_then(KeyFile::parse) {
            out.push(file);
        }
    }
    out.sort_by(|a, b| {
        (a.alg.as_str(), a.signs_from, &a.name).cmp(&(b.alg.as_str(), b.signs_from, &b.name))
    });
    Ok(out)
}

/// The PKCS#8 DER of the key in `path`.
pub fn read_pkcs8(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    pem_decode(&pem).with_context(|| format!("{} is not a PKCS#8 PEM file", path.display()))
}

/// Writes a new key of `alg` signing from `signs_from`. Should that name exist already (two
/// rotations within a second, or two instances generating at first start), the next second is
/// taken: an existing key file is never replaced.
pub fn write_key(dir: &Path, alg: Alg, signs_from: i64, der: &[u8]) -> anyhow::Result<KeyFile> {
    let pem = pem_encode(der);
    for bump in 0..60 {
        let file = KeyFile::new(alg, signs_from + bump);
        if write_new(&dir.join(&file.name), pem.as_bytes())? {
            return Ok(file);
        }
    }
    bail!(
        "{} keys already sign from every second after {signs_from}",
        alg.as_str()
    )
}

/// Writes `data` to `path` with mode 0600 unless `path` exists; `false` when it does. The data
/// goes to a temporary file first, which is then linked to its name: the name appears with the
/// whole content (a rename that never replaces). Filesystems without hard links get a rename.
pub fn write_new(path: &Path, data: &[u8]) -> anyhow::Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let tmp = dir.join(format!(
        ".{name}{TEMP_MARK}{}",
        &crate::crypto::random_token()[..12]
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(data)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("creating {}", tmp.display()));
    }
    let placed = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) if !path.exists() => std::fs::rename(&tmp, path).map(|()| true),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tmp);
    if let Ok(d) = std::fs::File::open(dir) {
        // Make the new name durable; not every filesystem supports it, hence best effort.
        let _ = d.sync_all();
    }
    placed.with_context(|| format!("creating {}", path.display()))
}

/// Deletes temporary files a crashed writer left behind; returns their names.
pub fn remove_stale_temp_files(dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > STALE_TEMP_SECS);
        if name.starts_with('.')
            && name.contains(TEMP_MARK)
            && old
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(name);
        }
    }
    removed
}

/// The 32-byte (or longer) secret in `path`, created when missing. Instances starting together
/// on an empty shared directory agree: whoever writes second reads the first one's secret.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if !path.exists() {
        let key = crate::crypto::random_bytes::<32>().to_vec();
        if write_new(path, format!("{}\n", STANDARD.encode(&key)).as_bytes())? {
            return Ok(key);
        }
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let key = STANDARD
        .decode(text.trim())
        .with_context(|| format!("{} is not base64", path.display()))?;
    if key.len() < 32 {
        bail!("{} must hold at least 32 bytes", path.display());
    }
    Ok(key)
}

/// A new private key of `alg`, PKCS#8 DER.
pub fn generate(alg: Alg) -> anyhow::Result<Vec<u8>> {
    let rng = SystemRandom::new();
    Ok(match alg {
        Alg::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?
                .as_ref()
                .to_vec()
        }
        Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("Ed25519 key generation failed"))?
            .as_ref()
            .to_vec(),
        Alg::RS256 => {
            // ring cannot generate RSA keys; the `rsa` crate (already in the tree via
            // openidconnect) generates, ring signs.
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut RingRng(rng), RSA_BITS)?;
            key.to_pkcs8_der()?.as_bytes().to_vec()
        }
    })
}

/// `rand_core` adapter over ring's CSPRNG, for the `rsa` crate.
struct RingRng(SystemRandom);

impl rsa::rand_core::RngCore for RingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if self.0.fill(dest).is_err() {
            panic!("the operating system's random number generator failed");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rsa::rand_core::CryptoRng for RingRng {}

pub(super) fn pem_encode(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

pub(super) fn pem_decode(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|rest| rest.trim_end().strip_suffix("-----END PRIVATE KEY-----"))
        .context("expected a -----BEGIN PRIVATE KEY----- block")?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(STANDARD.decode(compact)?)
}

/// Path of `file` in `dir`.
pub fn path_of(dir: &Path, file: &KeyFile) -> PathBuf {
    dir.join(&file.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gh-keyfiles-{}", crate::crypto::random_token()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    #[test]
    fn pem_round_trip() {
        let der = vec![1u8, 2, 3, 200, 255, 0, 17];
        assert_eq!(pem_decode(&pem_encode(&der)).unwrap_or_default(), der);
        assert!(pem_decode("garbage").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(KeyFile::new(Alg::EdDSA, 42).name, "eddsa-42.pem");
        let f = KeyFile::parse("RS256-1700000000.pem").unwrap_or_else(|| panic!("parse"));
        assert_eq!((f.alg, f.signs_from), (Alg::RS256, 1_700_000_000));
        for bad in [
            "rs256.pem",
            "hs256-1.pem",
            "rs256-x.pem",
            ".rs256-1.pem.tmp-abc",
        ] {
            assert!(KeyFile::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn writes_never_replace_and_leave_no_temp_files() {
        let dir = temp_dir();
        let a = write_key(&dir, Alg::ES256, 100, b"one").unwrap_or_else(|e| panic!("{e}"));
        let b = write_key(&dir, Alg::ES256, 100, b"two").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.signs_from, b.signs_from),
            (100, 101),
            "bumped, not replaced"
        );
        let first = read_pkcs8(&path_of(&dir, &a)).unwrap_or_default();
        assert_eq!(first, b"one");
        let names: Vec<String> = key_files(&dir)
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["es256-100.pem", "es256-101.pem"]);
        let all = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(all, 2, "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path_of(&dir, &a))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn secrets_are_created_once() {
        let dir = temp_dir();
        let path = dir.join("s.key");
        let one = load_or_create_secret(&path).unwrap_or_default();
        let two = load_or_create_secret(&path).unwrap_or_default();
        assert_eq!(one.len(), 32);
        assert_eq!(one, two);
        let _ = std::fs::remove_dir_all(dir);
    }
}
