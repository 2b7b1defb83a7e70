//! [`Invalidator`]: the one way plan-cache keys are dropped. Each invalidation does, in this
//! order and in one `plans.invalidate` span:
//!
//! 1. the fence: the keys (or all of them) are invalidated in the plan cache, so no load that
//!    started before can put an older list back (see `cache/fence.rs`);
//! 2. the live lists' wake-up, in that span, so their events link to it (see [`super::live`]);
//! 3. the `Plan cache invalidated` log line, with the keys and why.
//!
//! Every path that invalidates (local writes and their failures, the change feed, a bulk import,
//! resuming after the feed was down) goes through here, so "every invalidation wakes the live
//! lists" holds by construction rather than by each caller remembering it.

use std::sync::Arc;

use tracing::{Instrument as _, info, info_span};

use super::live::LiveLists;
use super::{PlanId, PlanKey, PlanList};
use crate::cache::Cache;

/// Why keys are dropped: the `source` (and `change`, `plan_id`) of the span and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// A write on this replica committed: `change` (`created`, `updated`, `deleted`) of a plan.
    Write {
        plan_id: PlanId,
        change: &'static str,
    },
    /// A write failed after it was sent: it may have committed.
    FailedWrite { change: &'static str },
    /// The change feed announced a change made anywhere (another replica, plain SQL).
    ChangeFeed,
    /// Anything may have changed (a bulk import, an unreadable notice, a caller's request).
    Unknown,
    /// The change feed is back after changes may have been missed; caching resumes.
    Resume,
}

impl Cause {
    fn source(self) -> &'static str {
        match self {
            Self::Write { .. } => "write",
            Self::FailedWrite { .. } => "failed write",
            Self::ChangeFeed => "change feed",
            Self::Unknown => "unknown",
            Self::Resume => "change feed reconnected",
        }
    }

    fn change(self) -> Option<&'static str> {
        match self {
            Self::Write { change, .. } | Self::FailedWrite { change } => Some(change),
            _ => None,
        }
    }

    fn plan_id(self) -> Option<PlanId> {
        match self {
            Self::Write { plan_id, .. } => Some(plan_id),
            _ => None,
        }
    }
}

/// The plan cache and the live lists woken by its invalidations; cheap to clone (two `Arc`s).
#[derive(Clone)]
pub(super) struct Invalidator {
    cache: Arc<Cache<PlanKey, PlanList>>,
    live: Arc<LiveLists>,
}

impl Invalidator {
    pub(super) fn new(cache: Arc<Cache<PlanKey, PlanList>>, live: Arc<LiveLists>) -> Self {
        Self { cache, live }
    }

    /// Drops `keys` and wakes their live lists.
    pub(super) async fn keys(&self, keys: &[PlanKey], cause: Cause) {
        self.run(Some(keys), cause, || {}).await;
    }

    /// Drops every key and wakes every live list.
    pub(super) async fn all(&self, cause: Cause) {
        self.run(None, cause, || {}).await;
    }

    /// Drops every key, runs `then` (e.g. trusting the cache again, so that the reloads the
    /// wake-up causes go through the fenced cache), then wakes every live list.
    pub(super) async fn all_then(&self, cause: Cause, then: impl FnOnce() + Send) {
        self.run(None, cause, then).await;
    }

    async fn run(&self, keys: Option<&[PlanKey]>, cause: Cause, then: impl FnOnce() + Send) {
        let span = info_span!(
            "plans.invalidate",
            source = cause.source(),
            change = cause.change(),
            plan_id = cause.plan_id(),
        );
        async {
            match keys {
                Some(keys) => self.cache.invalidate(keys).await,
                None => self.cache.invalidate_all().await,
            }
            then();
            match keys {
                Some(keys) => self.live.wake(keys),
                None => self.live.wake_all(),
            }
            let keys = keys.map_or_else(|| "all".to_owned(), join_keys);
            if cause == Cause::Resume {
                info!(
                    source = cause.source(),
                    keys, "Plan cache invalidated; caching resumed"
                );
            } else {
                info!(
                    source = cause.source(),
                    change = cause.change(),
                    plan_id = cause.plan_id(),
                    keys,
                    "Plan cache invalidated"
                );
            }
        }
        .instrument(span)
        .await;
    }
}

fn join_keys(keys: &[PlanKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
