//! Reading MariaDB's binary log: events and their CRCs ([`event`]), GTIDs and the log state they
//! add up to ([`gtid`]), statements ([`query`]) and transactions ([`walk`]).
//!
//! Pure: bytes in, values out. What the shipper, the base backup and recovery do with the log is
//! in [`crate::protect`]. Uses nothing else of this crate.
//!
//! May use: nothing else of this crate.

pub mod event;
pub mod gtid;
pub mod query;
pub mod walk;

pub use event::{Event, Format, FormatError, Kind};
pub use gtid::{Gtid, State};
pub use walk::{Commit, Outcome, Step, WalkError, Walker};
