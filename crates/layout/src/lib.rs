//! spotctl-layout: where everything lives in an env's state bucket. Every key the binary, the
//! control plane (`spotctl-aws`) and the database side (`spotctl-db`) read or write is made here
//! and nowhere else, and [`Key::parse`] reads any of them back:
//!
//! ```text
//! state/env.json                     the env as last applied (every region it used)
//! state/user-data.sh                 the rendered user-data the handler gives each standby
//! state/lock.json                    apply's and destroy's lock
//! state/primary.json                 the primary record
//! state/handoffs/<id>.json           a handoff's lease and steps
//! state/events/<event>.json          one record per handled event
//! state/fleets/<fleet>.json          a fleet's failover state
//! state/fis-last.json                the last FIS experiment spotctl started
//! cache/…                            the advisor feed, the SPS ledger, recent interruptions
//! artifacts/spotctl-<hash>.zip       the handler package
//! backups/<id>/manifest.json         a handoff's drain, complete (data/…, files/… beside it)
//! backups/<id>/seal.json             a handoff's drain, sealed: the shipped log holds everything
//! backups/timelines/<T>/…            the shipped binary log, its timeline record and heartbeat
//!                                    (heartbeats/<writer>.json: only the writer it names writes it)
//! backups/bases/<id>/…               base backups, laid out as a drain, base.json last
//! backups/reports/<instance>/<writer>.json  an agent's report of its server's health (its own
//!                                    instance's session, `<role id>:<instance>`, is the one read)
//! ```
//!
//! The backup keys take a prefix (`backups/` in an env's bucket; any prefix for the one-shot
//! commands a person runs), and ids are checked before they shape a key.
//!
//! Pure: strings in, strings out. Depends on nothing of spotctl.

pub mod backup;
mod error;
mod key;
pub mod log;
pub mod state;

pub use backup::{
    epoch_of, handoff_id, health_dir, health_key, own_health_report, writer_ok, writer_session, BackupRoot,
    BACKUPS,
};
pub use error::LayoutError;
pub use key::Key;
pub use log::PieceKey;
