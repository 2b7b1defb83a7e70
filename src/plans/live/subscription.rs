//! [`LiveList`]: one subscriber's side of a live list: the first list, then each newer, different
//! one, with its `plans.live.event` span.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::info_span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{
    Channel, ListSource, LiveEvent, LiveLists, LiveMetrics, Pending, Permit, Snapshot, same_list,
    sampled_current_span,
};
use crate::cache::Stamp;
use crate::plans::consistency::Freshness;
use crate::plans::error::PlanError;
use crate::plans::{PlanKey, PlanList};

/// One live subscription to the list of a key: [`LiveList::next`] gives the current list first,
/// then the newest list each time it changed, and `None` once the server shuts down.
///
/// Traced (when the subscription's span, current at [`LiveList::start`], is exported), each
/// event after the first gets a `plans.live.event` span: a child of the subscription's span, so
/// that a subscription's trace lists what it was sent (sampled with it, as a whole), with a link
/// to each invalidation the event answers (see the module's doc), which are in other traces (the
/// writes'). It lasts from the list being taken until the subscriber asks for the next one: while
/// the event is resolved, serialized and written.
pub struct LiveList {
    first: Option<PlanList>,
    last: Option<(Stamp, PlanList)>,
    receiver: watch::Receiver<Option<Snapshot>>,
    shutdown: watch::Receiver<bool>,
    metrics: LiveMetrics,
    traced: bool,
    /// The span of the event last given, until the next call.
    event: Option<tracing::Span>,
    _channel: Arc<Channel>,
    _permit: Permit,
}

impl LiveList {
    /// Subscribes to the list of `key`: the current list (one cache read, or a database read if
    /// `freshness` says so; reflecting every write that returned before this call) is the first
    /// event.
    pub(in crate::plans) async fn start<S: ListSource>(
        lists: &Arc<LiveLists>,
        service: &Arc<S>,
        key: PlanKey,
        freshness: Freshness,
    ) -> Result<Self, PlanError> {
        let shutdown = lists.shutdown.subscribe();
        if *shutdown.borrow() {
            return Err(PlanError::ShuttingDown);
        }
        let permit = lists.acquire()?;
        let (channel, mut receiver) = lists.join(key, service);
        let served = service.read(key, freshness).await?;
        // Offered to the channel (it helps the other subscribers if newer), then the channel's
        // list is this subscription's first: never older than what this read returned.
        channel.offer(served.read.stamp, served.value.clone(), Pending::default());
        let current = receiver
            .borrow_and_update()
            .clone()
            .filter(|held| held.stamp >= served.read.stamp)
            .map_or((served.read.stamp, served.value), |held| {
                (held.stamp, held.list)
            });
        Ok(Self {
            first: Some(current.1.clone()),
            last: Some(current),
            receiver,
            shutdown,
            metrics: lists.metrics.clone(),
            traced: sampled_current_span().is_some(),
            event: None,
            _channel: channel,
            _permit: permit,
        })
    }

    /// The next list to send: the first list, then each newer, different list. `None` when the
    /// server shuts down. The first list's renderings are its own (it may come from this
    /// subscription's own read); later lists' are shared with every subscriber of the key.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        self.event = None;
        if let Some(first) = self.first.take() {
            self.metrics.events.inc();
            return Some(LiveEvent {
                list: first,
                renderings: Arc::default(),
            });
        }
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stopping| *stopping) => return None,
                changed = self.receiver.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
            let Some(snapshot) = self.receiver.borrow_and_update().clone() else {
                continue;
            };
            if let Some((stamp, list)) = &mut self.last {
                if snapshot.stamp <= *stamp {
                    continue;
                }
                if same_list(list, &snapshot.list) {
                    *stamp = snapshot.stamp;
                    continue;
                }
            }
            self.last = Some((snapshot.stamp, snapshot.list.clone()));
            self.metrics.events.inc();
            if let Some(since) = snapshot.invalidated_at {
                self.metrics.delay.observe(since.elapsed().as_secs_f64());
            }
            if self.traced {
                let span = info_span!("plans.live.event", plans.count = snapshot.list.len() as i64);
                for cause in snapshot.causes {
                    span.add_link(cause);
                }
                self.event = Some(span);
            }
            return Some(LiveEvent {
                list: snapshot.list,
                renderings: snapshot.renderings,
            });
        }
    }
}
