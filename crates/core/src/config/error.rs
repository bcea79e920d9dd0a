//! How the env file refuses: every problem names the file, line and column, the key (a dotted path
//! such as `instance.types[1]`) and what would be valid, so the user can fix it without reading the
//! docs — and every problem in the file is reported at once, in the order they appear.

use std::fmt;
use std::path::PathBuf;

/// One problem found in an env file, at a 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    /// The dotted path of the key, e.g. `instance.types[1]`; empty for a TOML syntax error.
    pub key: String,
    pub message: String,
}

/// The env file was refused: its first problem, every other one in `more` (in file order).
///
/// Display renders one line per problem, `file:line:col: key: message`. Line and column are 0 when
/// the problem has no position (the file could not be read), and then only `file: message` shows.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub key: String,
    pub message: String,
    /// Further problems, in file order.
    pub more: Vec<Problem>,
    /// Why the env file could not be read, when that is the problem.
    #[source]
    pub source: Option<std::io::Error>,
}

impl ConfigError {
    /// Every problem, the first one included, in file order.
    pub fn problems(&self) -> Vec<Problem> {
        let first =
            Problem { line: self.line, col: self.col, key: self.key.clone(), message: self.message.clone() };
        std::iter::once(first).chain(self.more.iter().cloned()).collect()
    }

    fn render(&self) -> String {
        let mut out = line(&self.file, self.line, self.col, &self.key, &self.message);
        for p in &self.more {
            out.push('\n');
            out.push_str(&line(&self.file, p.line, p.col, &p.key, &p.message));
        }
        out
    }

    pub(crate) fn unreadable(file: PathBuf, message: String, source: std::io::Error) -> ConfigError {
        ConfigError {
            file,
            line: 0,
            col: 0,
            key: String::new(),
            message,
            more: Vec::new(),
            source: Some(source),
        }
    }

    /// Builds the error from problems located by byte offset in `text`; `None` when there are none.
    pub(crate) fn from_problems(file: PathBuf, text: &str, found: Vec<Located>) -> Option<ConfigError> {
        let mut problems = locate_all(text, found);
        if problems.is_empty() {
            return None;
        }
        let first = problems.remove(0);
        Some(ConfigError {
            file,
            line: first.line,
            col: first.col,
            key: first.key,
            message: first.message,
            more: problems,
            source: None,
        })
    }
}

/// Something that does not stop the env from loading but deserves a look (a port open to the whole
/// internet, say). Display renders `file:line:col: key: message`, like an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&line(&self.file, self.line, self.col, &self.key, &self.message))
    }
}

pub(crate) fn warnings(file: &std::path::Path, text: &str, found: Vec<Located>) -> Vec<ConfigWarning> {
    locate_all(text, found)
        .into_iter()
        .map(|p| ConfigWarning {
            file: file.to_path_buf(),
            line: p.line,
            col: p.col,
            key: p.key,
            message: p.message,
        })
        .collect()
}

fn line(file: &std::path::Path, line: usize, col: usize, key: &str, message: &str) -> String {
    let file = file.display();
    match (line, key.is_empty()) {
        (0, true) => format!("{file}: {message}"),
        (0, false) => format!("{file}: {key}: {message}"),
        (_, true) => format!("{file}:{line}:{col}: {message}"),
        (_, false) => format!("{file}:{line}:{col}: {key}: {message}"),
    }
}

/// A problem (or warning) found while reading, located by byte offset into the text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Located {
    pub at: usize,
    pub key: String,
    pub message: String,
}

/// Sorted by position, then key and message; exact repeats dropped.
fn locate_all(text: &str, mut found: Vec<Located>) -> Vec<Problem> {
    found.sort();
    found.dedup();
    found
        .into_iter()
        .map(|l| {
            let (line, col) = position(text, l.at);
            Problem { line, col, key: l.key, message: l.message }
        })
        .collect()
}

/// The 1-based line and column (counted in characters) of byte offset `at` in `text`.
pub(crate) fn position(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 4), (1, 5));
        assert_eq!(position(text, 6), (2, 1));
        assert_eq!(position(text, 11), (2, 5)); // after "bé =", é being two bytes
        assert_eq!(position(text, 999), (3, 1));
    }

    #[test]
    fn renders_every_problem_in_file_order() {
        let found = vec![
            Located { at: 6, key: "b".into(), message: "second".into() },
            Located { at: 0, key: "a".into(), message: "first".into() },
            Located { at: 0, key: "a".into(), message: "first".into() },
        ];
        let err = ConfigError::from_problems("envs/x/spotctl.toml".into(), "a = 1\nb = 2\n", found);
        let err = err.map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("envs/x/spotctl.toml:1:1: a: first\nenvs/x/spotctl.toml:2:1: b: second")
        );
        assert!(ConfigError::from_problems("f".into(), "", vec![]).is_none());
    }

    #[test]
    fn a_problem_without_position_or_key_shows_only_the_file() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err =
            ConfigError::unreadable("envs/x/spotctl.toml".into(), "cannot read the env file".into(), io);
        assert_eq!(err.to_string(), "envs/x/spotctl.toml: cannot read the env file");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.problems().len(), 1);
    }
}
