//! Shows long waits: a spinner on a terminal, plain lines (one per new message) otherwise, so CI
//! logs stay readable and interactive users see that something is happening.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

pub struct Progress {
    bar: Option<ProgressBar>,
    last: Mutex<String>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::with_spinner(std::io::stderr().is_terminal())
    }

    /// A spinner when `spinner` (the caller decided: a terminal, colour allowed), plain lines
    /// otherwise.
    pub fn with_spinner(spinner: bool) -> Progress {
        let bar = spinner.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress { bar, last: Mutex::new(String::new()) }
    }

    /// A hidden progress, for library callers and tests.
    pub fn quiet() -> Progress {
        Progress { bar: Some(ProgressBar::hidden()), last: Mutex::new(String::new()) }
    }

    /// The current step; on a plain stream it prints only when the message changes.
    pub fn tick(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => {
                if let Ok(mut last) = self.last.lock() {
                    if *last != msg {
                        eprintln!("... {msg}");
                        *last = msg.to_string();
                    }
                }
            }
        }
    }

    /// What is being worked on, shown only on a terminal: the caller prints a line that stays
    /// when it is done, so a log gets each change once.
    pub fn spin(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }

    /// A line that stays.
    pub fn note(&self, msg: &str) {
        match &self.bar {
            Some(b) if !b.is_hidden() => b.println(msg),
            Some(_) => {}
            None => eprintln!("{msg}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
