//! Packages the handler: the running spotctl binary itself, zipped as `bootstrap`.
//!
//! One build serves as CLI, Lambda handler and on-instance agent, so the zip is made from the
//! executable that is running (or the file named by `SPOTCTL_LAMBDA_BINARY`). The zip is
//! reproducible: fixed entry time (1980-01-01), fixed mode 0755, one entry, fixed compression; the
//! same binary always gives the same bytes and so the same `CodeSha256`, and an unchanged build
//! plans no Lambda update. The Lambda runtime (provided.al2023) has glibc 2.34, so a binary that
//! needs a newer glibc symbol is refused here rather than failing at its first invocation.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// glibc of Amazon Linux 2023, the provided.al2023 runtime.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

#[derive(Debug, Clone)]
pub struct Package {
    pub zip: Vec<u8>,
    pub sha256_hex: String,
    /// As Lambda reports `CodeSha256`.
    pub sha256_b64: String,
    pub binary: PathBuf,
    pub glibc: Option<(u32, u32)>,
}

pub fn binary_path() -> Result<PathBuf> {
    match std::env::var_os("SPOTCTL_LAMBDA_BINARY") {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe().context("finding the running spotctl binary to package"),
    }
}

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
    Ok(Package {
        sha256_hex: digest.iter().map(|b| format!("{b:02x}")).collect(),
        sha256_b64: base64::engine::general_purpose::STANDARD.encode(digest),
        zip,
        binary,
        glibc,
    })
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
    fn finds_the_newest_glibc_version() {
        let bin = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0xGLIBC_2.3x";
        assert_eq!(max_glibc(bin), Some((2, 34)));
        assert_eq!(max_glibc(b"nothing here"), None);
    }
}
