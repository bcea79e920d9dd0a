//! The notice's fence, raised on this server before anything else: the moment instance metadata
//! shows the interruption notice or a `spotctl:drain` tag, writes go off (`read_only = ON`; the
//! application's account holds no privilege that passes it), before any call to the state bucket
//! or to AWS, and they stay off whatever the bucket says. It needs only the instance metadata
//! service and the local server, so a primary cut off from the bucket is fenced as fast as one
//! that is not; the watcher checks it on its own timer, apart from the looks that may hang on the
//! bucket ([`super::watch`]).
//!
//! Every place that turns writes on (serving, promotion) goes through [`LocalFence::allow_writes`],
//! which holds the same gate as the fence, so a look that decided to serve before the notice
//! appeared cannot turn writes back on after the fence went up.

use super::database::Database;
use super::error::Result;
use crate::sdk::imds::{paths, Metadata};
use spotctl_core::names::TAG_DRAIN;

/// Why this server is fenced for good, once it is.
#[derive(Debug, Default)]
pub struct LocalFence {
    gate: tokio::sync::Mutex<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    raised: Option<Raised>,
    /// A drain tag that names a handoff a person gave up (the record says so): it fences no more.
    stale_tag: Option<String>,
}

#[derive(Debug, Clone)]
struct Raised {
    why: String,
    /// The notice raised it (or came since): the instance is going away, nothing lifts it.
    notice: bool,
    /// Every drain tag seen raising it: only a keep of each of their handoffs lifts it.
    tags: std::collections::BTreeSet<String>,
}

impl LocalFence {
    /// Reads the notice and the drain tag (instance metadata only); when either is there, turns
    /// writes off and keeps them off. Returns why it is raised, if it is.
    pub async fn check(&self, md: &dyn Metadata, db: &dyn Database) -> Result<Option<String>> {
        let notice = md.read(paths::SPOT_ACTION).await?.is_some();
        let tag = md.read(&paths::tag(TAG_DRAIN)).await?;
        self.observed(notice, tag.as_deref(), db).await
    }

    /// [`LocalFence::check`] on what a look already read of the notice and the drain tag.
    pub async fn observed(
        &self,
        notice: bool,
        tag: Option<&str>,
        db: &dyn Database,
    ) -> Result<Option<String>> {
        let mut gate = self.gate.lock().await;
        let tag = tag.filter(|t| gate.stale_tag.as_deref() != Some(*t));
        let why = match (notice, tag) {
            (true, _) => Some("the spot interruption notice".to_string()),
            (false, Some(id)) => Some(format!("the drain tag ({TAG_DRAIN} = {id})")),
            (false, None) => None,
        };
        let raised = &mut gate.raised;
        // Writes off first, then the fence counts as up: a check cut short leaves it down, never
        // up over a server that still takes writes. Set again on every check while it is up: a
        // hand or a restart of the server may have lifted it.
        if why.is_some() || raised.is_some() {
            db.set_writable(false).await?;
        }
        if let Some(why) = why {
            let r = raised.get_or_insert(Raised { why, notice, tags: Default::default() });
            r.notice |= notice;
            r.tags.extend(tag.map(String::from));
        }
        Ok(raised.as_ref().map(|r| r.why.clone()))
    }

    /// Why the fence is up, if it is.
    pub async fn raised(&self) -> Option<String> {
        self.gate.lock().await.raised.as_ref().map(|r| r.why.clone())
    }

    /// [`LocalFence::raised`] without waiting: `None` while a check or a turn-on holds the gate.
    pub fn try_raised(&self) -> Option<Option<String>> {
        self.gate.try_lock().ok().map(|g| g.raised.as_ref().map(|r| r.why.clone()))
    }

    /// Lowers a fence a drain tag raised, once a person kept this server as the primary, giving
    /// up handoff `gave_up` (the record says so, `spotctl keep-primary`): a tag naming that handoff
    /// fences no more, whether or not it was removed yet. Never one the notice raised, nor while
    /// the notice or another tag is there. Returns whether it was lowered.
    pub async fn lift_kept(&self, notice: bool, tag: Option<&str>, gave_up: &str) -> bool {
        let mut gate = self.gate.lock().await;
        let stale = tag.is_none_or(|t| t == gave_up);
        // What the caller saw may be older than the fence: judge by the tags that raised it
        // (a new relocation's tag raised after that look is not the given-up one).
        match gate.raised.as_ref() {
            Some(r) if !r.notice && !notice && stale && r.tags.iter().all(|t| t == gave_up) => {
                gate.raised = None;
                gate.stale_tag = Some(gave_up.to_string());
                true
            }
            _ => false,
        }
    }

    /// Turns writes on unless the fence is up: `Ok(None)` when they are on (`Ok(Some(why))`:
    /// they stay off). `changed` says whether they were off before.
    pub async fn allow_writes(&self, db: &dyn Database) -> Result<Allowed> {
        let gate = self.gate.lock().await;
        if let Some(r) = gate.raised.as_ref() {
            db.set_writable(false).await?;
            return Ok(Allowed::Fenced(r.why.clone()));
        }
        if db.writable().await? {
            return Ok(Allowed::Already);
        }
        db.set_writable(true).await?;
        Ok(Allowed::TurnedOn)
    }
}

/// What [`LocalFence::allow_writes`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Already,
    TurnedOn,
    /// The notice's fence is up: writes stay off, for this reason.
    Fenced(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::MemoryDatabase;
    use crate::sdk::twin::StaticMetadata;
    use futures::executor::block_on;

    #[test]
    fn the_notice_fences_and_nothing_lifts_the_fence_after() {
        let (md, db, fence) =
            (StaticMetadata::default(), MemoryDatabase::new(vec![], false), LocalFence::default());
        assert_eq!(block_on(fence.check(&md, &db)).expect("check"), None);
        assert!(db.writable_now(), "no notice, no fence");
        md.set(paths::SPOT_ACTION, "{\"action\":\"terminate\"}");
        let why = block_on(fence.check(&md, &db)).expect("check");
        assert_eq!(why.as_deref(), Some("the spot interruption notice"));
        assert!(!db.writable_now());
        // A look that decided to serve before the notice cannot turn writes back on.
        let allowed = block_on(fence.allow_writes(&db)).expect("allow");
        assert_eq!(allowed, Allowed::Fenced("the spot interruption notice".into()));
        assert!(!db.writable_now());
        // A hand that lifts read_only is undone by the next check, even with the notice gone.
        md.remove(paths::SPOT_ACTION);
        block_on(db.set_writable(true)).expect("by hand");
        assert!(block_on(fence.check(&md, &db)).expect("check").is_some());
        assert!(!db.writable_now());
    }

    #[test]
    fn a_drain_tag_fences_as_the_notice_does_and_no_fence_lets_writes_on() {
        let (md, db, fence) =
            (StaticMetadata::default(), MemoryDatabase::new(vec![], true), LocalFence::default());
        assert_eq!(block_on(fence.allow_writes(&db)).expect("allow"), Allowed::TurnedOn);
        assert_eq!(block_on(fence.allow_writes(&db)).expect("allow"), Allowed::Already);
        md.set(&paths::tag(TAG_DRAIN), "epoch-3");
        let why = block_on(fence.check(&md, &db)).expect("check");
        assert_eq!(why.as_deref(), Some("the drain tag (spotctl:drain = epoch-3)"));
        assert!(!db.writable_now());
        // Kept by a person, giving another handoff up: this tag still fences.
        assert!(!block_on(fence.lift_kept(false, Some("epoch-3"), "epoch-2")));
        // Giving up the one the tag names: lowered, and the tag fences no more, removed or not.
        assert!(block_on(fence.lift_kept(false, Some("epoch-3"), "epoch-3")));
        assert_eq!(block_on(fence.check(&md, &db)).expect("check"), None);
        assert_eq!(block_on(fence.allow_writes(&db)).expect("allow"), Allowed::TurnedOn);
        // A later drain tag (a new handoff) fences again, and a look that read the metadata
        // before it appeared (seeing the given-up tag, or none) does not lower it (seed 612).
        md.set(&paths::tag(TAG_DRAIN), "epoch-4");
        assert!(block_on(fence.check(&md, &db)).expect("check").is_some());
        assert!(!block_on(fence.lift_kept(false, Some("epoch-3"), "epoch-3")), "a stale look");
        assert!(!block_on(fence.lift_kept(false, None, "epoch-3")), "a stale look");
        assert!(!db.writable_now());
        md.remove(&paths::tag(TAG_DRAIN));
    }

    #[test]
    fn nothing_lowers_a_fence_the_notice_raised() {
        let (md, db, fence) =
            (StaticMetadata::default(), MemoryDatabase::new(vec![], false), LocalFence::default());
        md.set(&paths::tag(TAG_DRAIN), "epoch-3");
        block_on(fence.check(&md, &db)).expect("check");
        md.set(paths::SPOT_ACTION, "{}");
        block_on(fence.check(&md, &db)).expect("check");
        md.remove(paths::SPOT_ACTION);
        md.remove(&paths::tag(TAG_DRAIN));
        assert!(!block_on(fence.lift_kept(false, None, "epoch-3")), "the instance is going away");
    }
}
