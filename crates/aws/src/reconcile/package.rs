//! Packages the handler: the running spotctl binary itself, zipped as `bootstrap`.
//!
//! One build serves as CLI, Lambda handler and on-instance agent, so the zip is made from the
//! executable that is running (or the file named by `SPOTCTL_LAMBDA_BINARY`). The zip is
//! reproducible: fixed entry time (1980-01-01), fixed mode 0755, one entry, fixed compression; the
//! same binary always gives the same bytes and so the same `CodeSha256`, and an unchanged build
//! plans no Lambda update. The Lambda runtime (provided.al2023) has glibc 2.34, so a binary that
//! needs a newer glibc symbol is refused here rather than failing at its first invocation.
//!
//! Zipping a 100 MB debug binary takes seconds, and every plan needs the zip's hash: so the hash is
//! computed once per binary and cached under the user's cache directory, keyed by the binary's
//! identity (path, device, inode, size, modification time). A plan reads the cache; the zip itself
//! is built only when apply must upload it, and then checked against the planned hash.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// glibc of Amazon Linux 2023, the provided.al2023 runtime.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

/// What a plan needs of the handler package: its hashes, not its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageHash {
    pub sha256_hex: String,
    /// As Lambda reports `CodeSha256`.
    pub sha256_b64: String,
    pub glibc: Option<(u32, u32)>,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub zip: Vec<u8>,
    pub hash: PackageHash,
    pub binary: PathBuf,
}

pub fn binary_path() -> Result<PathBuf> {
    match std::env::var_os("SPOTCTL_LAMBDA_BINARY") {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe().context("finding the running spotctl binary to package"),
    }
}

/// Zips the handler binary (and checks its glibc needs).
pub fn package() -> Result<Package> {
    let binary = binary_path()?;
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let glibc = max_glibc(&bytes);
    if let Some(v) = glibc {
        if v > MAX_GLIBC {
            bail!(
                "{} needs glibc {}.{}, newer than the Lambda runtime's {}.{}; build it on an older \
                 system or for musl (see ARD.md, packaging)",
                binary.display(),
                v.0,
                v.1,
                MAX_GLIBC.0,
                MAX_GLIBC.1
            );
        }
    }
    let zip = zip_bootstrap(&bytes)?;
    let digest = Sha256::digest(&zip);
    let hash = PackageHash {
        sha256_hex: digest.iter().map(|b| format!("{b:02x}")).collect(),
        sha256_b64: base64::engine::general_purpose::STANDARD.encode(digest),
        glibc,
    };
    Ok(Package { zip, hash, binary })
}

/// The handler package's hashes: from the cache when this very binary was packaged before,
/// otherwise by packaging it (and caching the answer).
pub fn package_hash() -> Result<PackageHash> {
    let binary = binary_path()?;
    let cache = cache_file(&binary);
    if let Some(hit) = cache.as_ref().and_then(|c| std::fs::read(c).ok()) {
        if let Ok(h) = serde_json::from_slice::<PackageHash>(&hit) {
            return Ok(h);
        }
    }
    let pkg = package()?;
    if let Some(path) = cache {
        store_cache(&path, &pkg.hash);
    }
    Ok(pkg.hash)
}

/// The zip for upload, checked against the hash the plan was made with.
pub fn package_matching(planned: &PackageHash) -> Result<Package> {
    let pkg = package()?;
    if pkg.hash.sha256_hex != planned.sha256_hex {
        bail!(
            "{} changed since the plan was made (its package hash is {}, the plan's {}); plan again",
            pkg.binary.display(),
            pkg.hash.sha256_hex,
            planned.sha256_hex
        );
    }
    Ok(pkg)
}

/// Where this binary's hash is cached: named after its identity, so a rebuilt or replaced
/// binary never finds an old answer. `None` when the binary cannot be looked at or there is no
/// cache directory.
fn cache_file(binary: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(binary).ok()?;
    let identity = format!(
        "{}\0{}\0{}\0{}\0{}.{}",
        binary.canonicalize().ok()?.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    );
    let key: String =
        Sha256::digest(identity.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("spotctl").join("handler").join(format!("{key}.json")))
}

/// Writes the cache entry atomically (a temporary file renamed into place), so concurrent plans
/// never read half an entry. A cache that cannot be written only costs time.
fn store_cache(path: &std::path::Path, hash: &PackageHash) {
    let Some(dir) = path.parent() else { return };
    let tmp = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&tmp, serde_json::to_vec(hash).unwrap_or_default()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

pub fn zip_bootstrap(binary: &[u8]) -> Result<Vec<u8>> {
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755)
        .large_file(binary.len() as u64 >= u32::MAX as u64);
    w.start_file("bootstrap", opts)?;
    w.write_all(binary)?;
    Ok(w.finish()?.into_inner())
}

/// The newest `GLIBC_x.y` symbol version an ELF binary names (its version-needs strings).
pub fn max_glibc(binary: &[u8]) -> Option<(u32, u32)> {
    let needle = b"GLIBC_2.";
    let mut best: Option<(u32, u32)> = None;
    let mut i = 0;
    while let Some(pos) = find(&binary[i..], needle) {
        let start = i + pos + needle.len();
        let digits: Vec<u8> = binary[start..].iter().take_while(|b| b.is_ascii_digit()).copied().collect();
        let terminated = binary.get(start + digits.len()).is_some_and(|b| *b == 0 || *b == b'.');
        if !digits.is_empty() && terminated {
            if let Ok(minor) = std::str::from_utf8(&digits).unwrap_or("").parse::<u32>() {
                best = best.max(Some((2, minor)));
            }
        }
        i = start;
    }
    best
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_is_reproducible() {
        let a = zip_bootstrap(b"#!/bin/sh\necho hi\n").expect("zips");
        let b = zip_bootstrap(b"#!/bin/sh\necho hi\n").expect("zips");
        assert_eq!(a, b);
        let mut r = zip::ZipArchive::new(std::io::Cursor::new(a)).expect("reads back");
        let f = r.by_index(0).expect("entry");
        assert_eq!(f.name(), "bootstrap");
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn the_hash_is_cached_per_binary_identity() {
        let dir = std::env::temp_dir().join(format!("spotctl-package-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let bin = dir.join("bootstrap-bin");
        std::fs::write(&bin, b"#!/bin/sh\necho one\n").expect("binary");
        let cache = cache_with(&dir, &bin);
        let first = hash_with(&dir, &bin);
        assert_eq!(first, package_of(&bin).hash);
        // The second look reads the cache: a planted answer comes back.
        let planted = PackageHash { sha256_hex: "planted".into(), ..first.clone() };
        std::fs::write(&cache, serde_json::to_vec(&planted).expect("json")).expect("plant");
        assert_eq!(hash_with(&dir, &bin), planted);
        // A changed binary is another identity: the real hash again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&bin, b"#!/bin/sh\necho two\n").expect("rebuilt");
        let second = hash_with(&dir, &bin);
        assert_ne!(second, planted);
        assert_eq!(second, package_of(&bin).hash);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn cache_with(dir: &std::path::Path, bin: &std::path::Path) -> PathBuf {
        std::env::set_var("XDG_CACHE_HOME", dir);
        cache_file(bin).expect("a cache path")
    }

    fn hash_with(dir: &std::path::Path, bin: &std::path::Path) -> PackageHash {
        std::env::set_var("XDG_CACHE_HOME", dir);
        std::env::set_var("SPOTCTL_LAMBDA_BINARY", bin);
        package_hash().expect("hash")
    }

    fn package_of(bin: &std::path::Path) -> Package {
        std::env::set_var("SPOTCTL_LAMBDA_BINARY", bin);
        package().expect("package")
    }

    #[test]
    fn finds_the_newest_glibc_version() {
        let bin = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0xGLIBC_2.3x";
        assert_eq!(max_glibc(bin), Some((2, 34)));
        assert_eq!(max_glibc(b"nothing here"), None);
    }
}
