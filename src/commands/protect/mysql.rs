//! How the agent commands reach MariaDB: `--mysql DSN`, whose password, if the account needs one,
//! comes from `SPOTCTL_MYSQL_PASSWORD` or `--mysql-password-file` rather than the command line
//! (which any user of the host can read in the process list). Messages name the DSN redacted.

use crate::exit::BadInput;
use clap::Args;
use std::path::PathBuf;

/// The variable a DSN's password may come from.
pub const PASSWORD_ENV: &str = "SPOTCTL_MYSQL_PASSWORD";

#[derive(Debug, Clone, Args)]
pub struct MysqlArgs {
    /// How to reach the server: `mysql://USER@HOST:PORT/` or `mysql://USER@localhost/?socket=PATH`.
    /// A password may come from SPOTCTL_MYSQL_PASSWORD or --mysql-password-file instead.
    #[arg(long)]
    pub mysql: String,
    /// A file holding the DSN's password (its first line).
    #[arg(long)]
    pub mysql_password_file: Option<PathBuf>,
}

impl MysqlArgs {
    /// The DSN with its password, from the environment or the file when one is given.
    pub fn dsn(&self) -> Result<String, BadInput> {
        let from_file = match &self.mysql_password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| BadInput(format!("--mysql-password-file {}: {e}", path.display())))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ),
            None => None,
        };
        let from_env = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        match (from_file, from_env) {
            (Some(_), Some(_)) => {
                Err(BadInput(format!("give the password once: --mysql-password-file or {PASSWORD_ENV}")))
            }
            (Some(p), None) | (None, Some(p)) => with_password(&self.mysql, &p),
            (None, None) => Ok(self.mysql.clone()),
        }
    }
}

/// `dsn` with `password` set (percent-encoded); a DSN that already carries one is refused.
pub fn with_password(dsn: &str, password: &str) -> Result<String, BadInput> {
    let bad =
        || BadInput(format!("--mysql {} is not a mysql://USER@HOST… URL", spotctl_db::session::redact(dsn)));
    let (scheme, rest) = dsn.split_once("://").ok_or_else(bad)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, host) = authority.rsplit_once('@').ok_or_else(bad)?;
    if user.contains(':') {
        return Err(BadInput(format!(
            "--mysql {} already has a password; give it in one place",
            spotctl_db::session::redact(dsn)
        )));
    }
    Ok(format!("{scheme}://{user}:{}@{host}{tail}", encode(password)))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_encoded_into_the_dsn() -> Result<(), BadInput> {
        assert_eq!(
            with_password("mysql://app@db:3306/appdb", "p@ss:w/rd")?,
            "mysql://app:p%40ss%3Aw%2Frd@db:3306/appdb"
        );
        assert_eq!(
            with_password("mysql://root@localhost/?socket=/run/a@b.sock", "x")?,
            "mysql://root:x@localhost/?socket=/run/a@b.sock"
        );
        let twice = with_password("mysql://app:old@db/", "new").err().map(|e| e.0).unwrap_or_default();
        assert!(twice.contains("already has a password") && !twice.contains("old"), "{twice}");
        Ok(())
    }

    #[test]
    fn the_encoded_password_is_what_the_client_decodes() -> Result<(), BadInput> {
        let password = "p@ss:w/rd %é";
        let dsn = with_password("mysql://app@db:3306/appdb", password)?;
        let opts = mysql::Opts::from_url(&dsn).map_err(|e| BadInput(e.to_string()))?;
        assert_eq!(opts.get_pass(), Some(password));
        assert_eq!(opts.get_user(), Some("app"));
        Ok(())
    }
}
