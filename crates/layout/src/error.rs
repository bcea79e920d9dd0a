//! A name that cannot shape a key, and the one check every id passes.
//!
//! May use: nothing else of this crate.

/// A name that cannot shape a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("invalid handoff id {0:?}: use letters, digits, '.', '_' and '-' only")]
    BadId(String),
    #[error("{key}: {detail}")]
    BadPiece { key: String, detail: String },
}

/// One path segment of plain characters: it cannot climb or split a key.
pub fn plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
