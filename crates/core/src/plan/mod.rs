//! The plan: what `apply` must do to make live state match the env file ([`diff`]), and how a
//! person reads it ([`render`]: `+` create, `~` update, `-/+` replace, `-` delete). The same
//! `Plan` serialises as JSON for machines.
//!
//! May use: `handoff` (a recovery names the backup it restores). No I/O.

mod diff;
mod render;

pub use diff::{
    plan, plan_destroy, starts_launches, Action, Address, Attr, AttrDiff, Change, Kind, LiveResource,
    OnChange, Plan, Recovery, Resource, Summary,
};
pub use render::render;
