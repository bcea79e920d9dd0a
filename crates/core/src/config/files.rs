//! The edge of the env file: the files it names (the SSH public key, the schema, fleet user-data),
//! read relative to the env dir and checked before anything talks to AWS.
//!
//! Reading goes through a function the caller passes, so tests can stand in a key that is not on
//! disk; `load` passes `std::fs::read_to_string`.

use super::doc::Sink;
use std::io;
use std::path::{Component, Path, PathBuf};

/// A file the env names, to be read relative to the env dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileRef {
    pub kind: FileKind,
    pub path: String,
    /// Where the path is written, and its key.
    pub at: usize,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileKind {
    SshPublicKey,
    Schema,
    FleetUserData { fleet: String },
}

/// What the env's files hold, once read and checked.
#[derive(Debug, Default)]
pub(crate) struct FileContents {
    pub ssh_public_key: Option<(PathBuf, String)>,
    pub schema: Option<(PathBuf, String)>,
    pub fleet_user_data: Vec<(String, String)>,
}

/// EC2's limit on user data, before base64.
const USER_DATA_MAX: usize = 16 * 1024;

pub(crate) fn read_all(
    dir: &Path,
    refs: &[FileRef],
    read: &dyn Fn(&Path) -> io::Result<String>,
    sink: &mut Sink,
) -> FileContents {
    let mut out = FileContents::default();
    for r in refs {
        let path = normalize(&dir.join(&r.path));
        let text = match read(&path) {
            Ok(text) => text,
            Err(e) => {
                sink.problem(r.at, &r.key, unreadable(&r.kind, &path, &e));
                continue;
            }
        };
        match &r.kind {
            FileKind::SshPublicKey => match public_key(&text) {
                Ok(line) => out.ssh_public_key = Some((path, line)),
                Err(why) => sink.problem(r.at, &r.key, format!("{}: {why}", path.display())),
            },
            FileKind::Schema => out.schema = Some((path, text)),
            FileKind::FleetUserData { fleet } => {
                if text.len() > USER_DATA_MAX {
                    let why = format!(
                        "{} is {} bytes; valid: at most 16384 (EC2's user-data limit)",
                        path.display(),
                        text.len()
                    );
                    sink.problem(r.at, &r.key, why);
                } else {
                    out.fleet_user_data.push((fleet.clone(), text));
                }
            }
        }
    }
    out
}

fn unreadable(kind: &FileKind, path: &Path, e: &io::Error) -> String {
    let shown = path.display();
    if e.kind() != io::ErrorKind::NotFound {
        return format!("cannot read {shown}: {e}");
    }
    match kind {
        FileKind::SshPublicKey => {
            let private = path.to_string_lossy();
            let private = private.strip_suffix(".pub").unwrap_or(&private);
            format!(
                "no file at {shown}; create the key pair with: ssh-keygen -t ed25519 -N '' -f {}",
                shell_word(private)
            )
        }
        FileKind::Schema => {
            format!("no file at {shown}; valid: the path, relative to the env dir, of an SQL file (e.g. \"schema.sql\")")
        }
        FileKind::FleetUserData { .. } => {
            format!("no file at {shown}; valid: the path, relative to the env dir, of a user-data script")
        }
    }
}

/// The key types EC2 can import.
const KEY_TYPES: [&str; 2] = ["ssh-ed25519", "ssh-rsa"];

/// The one OpenSSH public key line in `text`, or why it is not one.
pub(crate) fn public_key(text: &str) -> Result<String, String> {
    if text.contains("PRIVATE KEY") {
        return Err(
            "this is a private key, which never leaves your machine; valid: the public key, the .pub file \
                    ssh-keygen writes beside it"
                .into(),
        );
    }
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let [line] = lines.as_slice() else {
        return Err(format!("{} keys found; valid: exactly one OpenSSH public key line", lines.len()));
    };
    let mut parts = line.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    if !KEY_TYPES.contains(&kind) {
        return Err(format!(
            "{kind:?} keys cannot be imported into EC2; valid: an ssh-ed25519 or ssh-rsa public key"
        ));
    }
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
    if data.is_empty() || !data.bytes().all(base64) {
        return Err("not an OpenSSH public key line; valid: \"<type> <base64> [comment]\"".into());
    }
    Ok((*line).to_string())
}

/// `path` with `.` and `name/..` taken out, without touching the file system (the file may not
/// exist, and the hint we print should stay relative when the env dir was given relative).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// `s` as one shell word: as is when safe, else in single quotes.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("envs/dev/../../key/spotctl.pub")), PathBuf::from("key/spotctl.pub"));
        assert_eq!(normalize(Path::new("./envs/dev/./schema.sql")), PathBuf::from("envs/dev/schema.sql"));
        assert_eq!(normalize(Path::new("../x/../y")), PathBuf::from("../y"));
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
        assert_eq!(normalize(Path::new("a/..")), PathBuf::from("."));
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("key/spotctl"), "key/spotctl");
        assert_eq!(shell_word("my keys/it's"), r"'my keys/it'\''s'");
    }

    #[test]
    fn public_keys() {
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBh0 me@host\n";
        assert_eq!(public_key(ed).as_deref(), Ok("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBh0 me@host"));
        assert!(public_key("ssh-rsa AAAAB3Nza+/= \n").is_ok());
        assert!(public_key("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n")
            .is_err_and(|e| e.contains("private key")));
        assert!(public_key("ecdsa-sha2-nistp256 AAAAE2Vj").is_err_and(|e| e.contains("cannot be imported")));
        assert!(public_key("").is_err_and(|e| e.contains("0 keys found")));
        assert!(public_key(&format!("{ed}{ed}")).is_err_and(|e| e.contains("2 keys found")));
        assert!(public_key("ssh-ed25519 not*base64").is_err());
        assert!(public_key("ssh-ed25519").is_err());
    }

    #[test]
    fn a_missing_key_names_the_command_that_makes_it() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            unreadable(&FileKind::SshPublicKey, Path::new("key/spotctl.pub"), &e),
            "no file at key/spotctl.pub; create the key pair with: ssh-keygen -t ed25519 -N '' -f key/spotctl"
        );
    }
}
