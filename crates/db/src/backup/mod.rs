//! Drain and restore: a database copied to a blob store and back, verified.
//!
//! The drain reads the schema ([`schema`], [`ddl`]), plans reads by key range ([`reads`]), dumps
//! rows in the server's own `LOAD DATA` format ([`rows`], [`dump`]) or copies InnoDB tables as
//! their files ([`tablespace`]), and writes the [`manifest`] last. The restore checks what a
//! manifest asks before it runs anything ([`trust`]), loads chunks in parallel ([`load`]) and
//! verifies every table against the manifest ([`verify`]).
//!
//! The old primary's [`fence`] (writes off before the drain reads) lives here too: a sealed
//! drain (`protect::seal`) raises the same one.
//!
//! May use: `store`, `session`, `pool`, `error`; the bucket's layout (`spotctl_layout`).

pub mod ddl;
pub mod drain;
pub mod dump;
pub mod fence;
pub mod load;
pub mod manifest;
pub mod progress;
pub mod reads;
pub mod restore;
pub mod rows;
pub mod schema;
pub mod tablespace;
pub mod trust;
pub mod verify;

pub use drain::{drain, DrainOptions, Method};
pub use manifest::Manifest;
pub use restore::{restore, RestoreOptions};
pub use verify::{verify, verify_manifest, TableCheck, Verification};
