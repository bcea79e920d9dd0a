//! What the terminal gets: colour and spinners, decided once for the whole run.
//!
//! Colour is on only when the stream is a terminal, `--no-color` was not given and `NO_COLOR` is
//! unset or empty (no-color.org: any non-empty value switches it off). Spinners follow the same
//! rule on stderr: a person who asked for no colour asked for no escape sequences at all.

use std::io::IsTerminal;
use std::sync::OnceLock;

static NO_COLOR: OnceLock<bool> = OnceLock::new();

/// Records `--no-color` (with `NO_COLOR` from the environment); called once, before any command.
pub fn init(no_color_flag: bool) {
    let from_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = NO_COLOR.set(no_color_flag || from_env);
}

fn plain() -> bool {
    *NO_COLOR.get_or_init(|| std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()))
}

/// Whether what goes to stdout may carry colour.
pub fn color_stdout() -> bool {
    !plain() && std::io::stdout().is_terminal()
}

/// Whether progress may draw a spinner on stderr.
pub fn spinners() -> bool {
    !plain() && std::io::stderr().is_terminal()
}

/// Progress lines for this run: a spinner on a terminal, plain lines otherwise.
pub fn progress() -> spotctl_aws::reconcile::progress::Progress {
    spotctl_aws::reconcile::progress::Progress::with_spinner(spinners())
}
