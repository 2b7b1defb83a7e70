//! Live lists: one `tokio::sync::watch` channel per [`PlanKey`] that has subscribers, woken by
//! exactly the invalidations of that key.
//!
//! * **Wake-ups.** Every invalidation of the plan cache (local writes, the change feed, the
//!   drop-all after the feed reconnects) goes through [`super::invalidation`], which calls
//!   [`LiveLists::wake`] or [`LiveLists::wake_all`] right after the cache invalidation. Keys nobody watches cost one map
//!   lookup. A channel's reloader also wakes itself once per `PLAN_CACHE_TTL`, as the cache's
//!   expiry would.
//! * **One reload per changed key.** A woken key is reloaded by its channel's one reloader task,
//!   through the plan cache (single-flight and fenced as every read), however many subscribers it
//!   has. Wake-ups that arrive during a reload coalesce into one more reload ([`Notify`] keeps one
//!   permit).
//! * **Latest value, never older.** A channel holds only its newest list, with the fence stamp of
//!   the load it came from; a list replaces it only if its stamp is strictly higher, and
//!   subscribers are told only when the list's content changed. Each subscriber also keeps the
//!   stamp of the last list it got and skips anything not newer. A slow subscriber therefore sees
//!   the newest list when it reads again, never a backlog.
//! * **Rendered once.** Each published list carries its [`Renderings`]: bytes derived from it
//!   (the transports' serialized events) are computed by the first subscriber that needs them and
//!   shared with every other subscriber of the key that derives them the same way.
//! * **Bounded memory.** A channel exists only while it has subscribers: its reloader ends, and
//!   the entry is removed, when the last one goes.
//! * **Traced causes.** When spans are exported, a wake-up notes the span it happened in (the
//!   `plans.invalidate` of a write, of a failed write or of the change feed), if sampled; the reload (`plans.live.reload`) and each event it
//!   leads to (`plans.live.event`) carry an OpenTelemetry link to each noted span. Coalesced
//!   wake-ups give one event linked to all of them, up to [`MAX_LINKS`] (the first ones).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use tokio::sync::{Notify, watch};
use tracing::{Instrument as _, info_span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

mod metrics;
mod renderings;
mod subscription;

pub use metrics::{LiveMetrics, LiveSettings};
pub use renderings::{LiveEvent, Renderings};
pub use subscription::LiveList;

use super::consistency::Freshness;
use super::error::PlanError;
use super::reads::Served;
use super::{PlanKey, PlanList};
use crate::cache::Stamp;

/// How long a reloader waits before retrying after a failed load.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Links one reload (and its events) carries at most: enough for the wake-ups of a burst of
/// writes that coalesced, bounded so that a write storm does not grow every event's span.
const MAX_LINKS: usize = 8;

/// What live lists read from: the one call of the plan service they need (it implements this),
/// so that this module does not depend on the service.
pub(super) trait ListSource: Send + Sync + 'static {
    /// The list of `key`, read as `freshness` says (through the plan cache).
    fn read(
        &self,
        key: PlanKey,
        freshness: Freshness,
    ) -> impl Future<Output = Result<Served<PlanList>, PlanError>> + Send;
}

/// The newest list of a key, with the stamp of the load it came from.
#[derive(Clone)]
struct Snapshot {
    stamp: Stamp,
    list: PlanList,
    /// When the invalidation this list answers happened (none for a first load).
    invalidated_at: Option<Instant>,
    /// The sampled spans of the invalidations this list answers.
    causes: Vec<SpanContext>,
    renderings: Arc<Renderings>,
}

/// The invalidations of a key not yet answered by a published list.
#[derive(Default)]
struct Pending {
    /// When the earliest happened.
    since: Option<Instant>,
    /// The sampled spans they happened in (at most [`MAX_LINKS`], each once).
    causes: Vec<SpanContext>,
}

impl Pending {
    fn note(&mut self, at: Instant, cause: Option<&SpanContext>) {
        self.since = Some(self.since.map_or(at, |since| since.min(at)));
        if let Some(cause) = cause
            && self.causes.len() < MAX_LINKS
            && !self.causes.contains(cause)
        {
            self.causes.push(cause.clone());
        }
    }
}

struct Channel {
    wake: Notify,
    latest: watch::Sender<Option<Snapshot>>,
    pending: Mutex<Pending>,
}

impl Channel {
    /// Publishes `list` if it is newer than the one held; subscribers are told only if its
    /// content differs. Returns whether they were told.
    fn offer(&self, stamp: Stamp, list: PlanList, answering: Pending) -> bool {
        self.latest.send_if_modified(|held| match held {
            Some(held) if held.stamp >= stamp => false,
            Some(held) if same_list(&held.list, &list) => {
                // Same content, newer stamp: keep the stamp, tell nobody.
                held.stamp = stamp;
                false
            }
            _ => {
                *held = Some(Snapshot {
                    stamp,
                    list,
                    invalidated_at: answering.since,
                    causes: answering.causes,
                    renderings: Arc::default(),
                });
                true
            }
        })
    }
}

fn same_list(a: &PlanList, b: &PlanList) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// The live lists of one process: the channels of watched keys, the subscription count and the
/// shutdown signal.
pub struct LiveLists {
    channels: Mutex<HashMap<PlanKey, Arc<Channel>>>,
    active: AtomicUsize,
    settings: LiveSettings,
    metrics: LiveMetrics,
    shutdown: watch::Sender<bool>,
}

impl LiveLists {
    pub fn new(settings: LiveSettings, metrics: LiveMetrics) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            active: AtomicUsize::new(0),
            settings,
            metrics,
            shutdown: watch::Sender::new(false),
        }
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<PlanKey, Arc<Channel>>> {
        // A panic while holding the lock leaves the map consistent (every change is one call).
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the reloaders of those of `keys` that have subscribers. Call it in the span of the
    /// invalidation: their events link to it.
    pub fn wake(&self, keys: &[PlanKey]) {
        let now = Instant::now();
        let channels = self.channels();
        if channels.is_empty() {
            return;
        }
        // Looked up once, and only when a key is watched.
        let mut cause = None;
        for key in keys {
            if let Some(channel) = channels.get(key) {
                let cause = cause.get_or_insert_with(sampled_current_span);
                mark_pending(channel, now, cause.as_ref());
                channel.wake.notify_one();
            }
        }
    }

    /// Wakes every reloader (after everything was invalidated).
    pub(crate) fn wake_all(&self) {
        let now = Instant::now();
        let channels = self.channels();
        let cause = (!channels.is_empty()).then(sampled_current_span).flatten();
        for channel in channels.values() {
            mark_pending(channel, now, cause.as_ref());
            channel.wake.notify_one();
        }
    }

    /// Ends every live subscription (each stream completes) and every reloader; new ones are
    /// refused from now on.
    pub(crate) fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Live subscriptions open now.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn acquire(self: &Arc<Self>) -> Result<Permit, PlanError> {
        let max = self.settings.max_subscriptions;
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |active| {
                (active < max).then_some(active + 1)
            })
            .map_err(|_| PlanError::SubscriptionLimit { max })?;
        self.metrics.active.inc();
        Ok(Permit(self.clone()))
    }

    /// The channel of `key` (created with its reloader if it has none) and a receiver of it.
    fn join<S: ListSource>(
        self: &Arc<Self>,
        key: PlanKey,
        service: &Arc<S>,
    ) -> (Arc<Channel>, watch::Receiver<Option<Snapshot>>) {
        let mut channels = self.channels();
        if let Some(channel) = channels.get(&key) {
            // Subscribed under the lock: the reloader removes a channel only under it too, and
            // only when it has no receivers.
            let receiver = channel.latest.subscribe();
            return (channel.clone(), receiver);
        }
        let (latest, receiver) = watch::channel(None);
        let channel = Arc::new(Channel {
            wake: Notify::new(),
            latest,
            pending: Mutex::new(Pending::default()),
        });
        channels.insert(key, channel.clone());
        tokio::spawn(reload(
            Arc::downgrade(service),
            Arc::downgrade(self),
            key,
            channel.clone(),
            self.shutdown.subscribe(),
        ));
        (channel, receiver)
    }

    /// Removes `key`'s channel if it is still `channel` and nobody subscribes to it. `false` if
    /// someone joined meanwhile (the reloader then carries on).
    fn remove_if_unused(&self, key: &PlanKey, channel: &Arc<Channel>) -> bool {
        let mut channels = self.channels();
        if channel.latest.receiver_count() > 0 {
            return false;
        }
        if channels
            .get(key)
            .is_some_and(|held| Arc::ptr_eq(held, channel))
        {
            channels.remove(key);
        }
        true
    }
}

fn mark_pending(channel: &Channel, now: Instant, cause: Option<&SpanContext>) {
    channel
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .note(now, cause);
}

/// The current span's OpenTelemetry context, if it is exported and sampled. Without an exporter
/// there is no OpenTelemetry layer: `None` after one failed look-up, nothing built.
fn sampled_current_span() -> Option<SpanContext> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled()).then(|| span_context.clone())
}

/// One live subscription's place in the count; given back when the subscription ends.
struct Permit(Arc<LiveLists>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.active.dec();
    }
}

/// The reloader of one watched key: waits for a wake-up (or the refresh period), reloads the key
/// through the cache and publishes the list. Ends when the key has no subscribers left, or at
/// shutdown.
async fn reload<S: ListSource>(
    service: Weak<S>,
    lists: Weak<LiveLists>,
    key: PlanKey,
    channel: Arc<Channel>,
    mut shutdown: watch::Receiver<bool>,
) {
    let refresh_every = lists
        .upgrade()
        .map(|lists| lists.settings.refresh_every)
        .unwrap_or_default();
    loop {
        let refresh = async {
            if refresh_every.is_zero() {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(refresh_every).await;
            }
        };
        tokio::select! {
            () = channel.wake.notified() => {}
            () = refresh => {}
            () = channel.latest.closed() => {
                let Some(lists) = lists.upgrade() else { return };
                if lists.remove_if_unused(&key, &channel) {
                    return;
                }
                continue;
            }
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        let Some(plans) = service.upgrade() else {
            return;
        };
        // Taken before the load: whatever the load returns answers at least these wake-ups.
        let answering = std::mem::take(
            &mut *channel
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        // Linked to, not a child of, the invalidations: it answers all of them at once.
        let span = info_span!("plans.live.reload", cache_key = %key);
        for cause in &answering.causes {
            span.add_link(cause.clone());
        }
        match plans.read(key, Freshness::Cached).instrument(span).await {
            Ok(served) => {
                channel.offer(served.read.stamp, served.value, answering);
            }
            Err(err) => {
                warn!(cache_key = %key, error = %err, "live list reload failed; retrying");
                if let Some(since) = answering.since {
                    let mut pending = channel
                        .pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    pending.note(since, None);
                    for cause in &answering.causes {
                        pending.note(since, Some(cause));
                    }
                }
                drop(plans);
                tokio::time::sleep(RETRY_AFTER).await;
                channel.wake.notify_one();
            }
        }
    }
}
