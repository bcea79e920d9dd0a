//! The protocol on the in-memory twins (the `testing` feature): the handler and the agents
//! together, through the crate's public seams, as the simulation drives them but one scenario at
//! a time: a warned handoff, a seal, two standbys racing, a restore that cannot verify, an unwarned
//! loss recovered from the shipped log, the handler's races and its fleets, agents older than the records they find.

mod handler;
mod handoff;
mod upgrade;
mod world;
