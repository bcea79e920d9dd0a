//! The primary's binary log files, read directly from its disk (the agent is root on the host):
//! the bytes are the server's own, reading costs the server nothing, and a restart leaves the
//! files where they were. The index file (`@@log_bin_index`) lists them, oldest first.

use super::error::{ProtectError, Result};
use super::server::ServerLog;
use spotctl_layout::log::log_file_name_ok;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct LocalLog {
    dir: PathBuf,
    index: PathBuf,
}

impl LocalLog {
    pub fn of(server: &ServerLog) -> LocalLog {
        LocalLog { dir: server.dir(), index: server.index.clone() }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The files the server lists, oldest first (names only; the server may write paths).
    pub fn files(&self) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.index)
            .map_err(|source| ProtectError::LogFile { path: self.index.display().to_string(), source })?;
        Ok(text
            .lines()
            .filter_map(|l| std::path::Path::new(l.trim()).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| log_file_name_ok(n))
            .collect())
    }

    /// Up to `max` bytes of `file` from `offset` (fewer at its end); `Ok(None)` when the file
    /// does not exist.
    pub fn read_from(&self, file: &str, offset: u64, max: usize) -> Result<Option<Vec<u8>>> {
        let path = self.path(file);
        let err = |source| ProtectError::LogFile { path: path.display().to_string(), source };
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        f.seek(SeekFrom::Start(offset)).map_err(err)?;
        let mut out = Vec::new();
        f.take(max as u64).read_to_end(&mut out).map_err(err)?;
        Ok(Some(out))
    }

    /// Exactly the bytes `[offset, end)` of `file`, or `None` if the file is gone or shorter.
    pub fn read_range(&self, file: &str, offset: u64, end: u64) -> Result<Option<Vec<u8>>> {
        let want = usize::try_from(end.saturating_sub(offset)).unwrap_or(usize::MAX);
        Ok(self.read_from(file, offset, want)?.filter(|b| b.len() == want))
    }
}
