//! Cross-replica coherence over PostgreSQL LISTEN/NOTIFY.
//!
//! A trigger (migration `m20261125_000002`) announces every committed change to `plans` on the
//! channel `plans_changed:<schema>`. Each replica listens and turns each announcement into the same
//! precise, fenced invalidation a local write does. While the listener is disconnected the replica
//! cannot know what it missed, so it reads through to the database; once listening again it drops
//! the whole cache and resumes caching.
//!
//! The listener also hears the consistency barriers on `plans_barrier:<schema>` and tells
//! [`Consistency`] how far it has applied the feed (see [`super::consistency`] for why that
//! makes a token's promise hold on every replica).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntGauge, Registry};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, DbErr, Statement};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::consistency::{self, Consistency};
use super::{ConnectionType, PlanOwner, PlanService};
use crate::telemetry::{register_counter, register_gauge};

const CHANNEL_PREFIX: &str = "plans_changed:";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Prometheus metrics of the change feed.
#[derive(Clone)]
pub struct ChangeFeedMetrics {
    reconnects: IntCounter,
    connected: IntGauge,
    notifications: IntCounter,
}

impl ChangeFeedMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            reconnects: register_counter(
                registry,
                "plan_cache_listener_reconnects_total",
                "Times the change-feed listener reconnected after losing its connection.",
            )?,
            connected: register_gauge(
                registry,
                "plan_cache_listener_connected",
                "1 while the change-feed listener is connected (the cache is in use), else 0.",
            )?,
            notifications: register_counter(
                registry,
                "plan_cache_notifications_total",
                "Plan change notifications received and applied.",
            )?,
        })
    }
}

/// The running listener; stops when dropped.
pub struct ChangeFeed {
    task: JoinHandle<()>,
    connected: watch::Receiver<bool>,
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChangeFeed {
    /// Starts listening for changes to the plans table that `db` sees (its current schema). The
    /// service reads through to the database until the listener is connected.
    pub async fn start(
        database_url: &str,
        db: &DatabaseConnection,
        plans: Arc<PlanService>,
        consistency: Arc<Consistency>,
        metrics: ChangeFeedMetrics,
        connect_timeout: Duration,
    ) -> Result<Self, DbErr> {
        let schema = current_schema(db).await?;
        let channel = format!("{CHANNEL_PREFIX}{schema}");
        let barriers = consistency
            .barrier_channel()
            .map(str::to_owned)
            .ok_or_else(|| DbErr::Custom("consistency without a change feed".into()))?;
        let options = PgConnectOptions::from_str(database_url)
            .map_err(|err| DbErr::Custom(format!("invalid DATABASE_URL: {err}")))?
            .application_name("plans-api change feed");
        plans.suspend_caching();
        let (connected_tx, connected) = watch::channel(false);
        let task = tokio::spawn(run(
            options,
            Channels { channel, barriers },
            plans,
            consistency,
            metrics,
            connected_tx,
            connect_timeout,
        ));
        Ok(Self { task, connected })
    }

    /// Waits until the listener is connected, at most `timeout`; `false` if it is not.
    pub(crate) async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.connected.clone();
        tokio::time::timeout(timeout, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|result| result.is_ok())
    }
}

/// The schema whose `plans` table `db` sees: the change feed's channels are named after it.
pub(crate) async fn current_schema(db: &DatabaseConnection) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT current_schema() AS schema",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("current_schema() returned no row".into()))?;
    row.try_get("", "schema")
}

/// What the listener listens to.
struct Channels {
    /// The trigger's notices of changes.
    channel: String,
    /// Consistency barriers.
    barriers: String,
}

async fn run(
    options: PgConnectOptions,
    channels: Channels,
    plans: Arc<PlanService>,
    consistency: Arc<Consistency>,
    metrics: ChangeFeedMetrics,
    connected: watch::Sender<bool>,
    connect_timeout: Duration,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut ever_connected = false;
    let channel = channels.channel.as_str();
    loop {
        match listen(&options, &channels, connect_timeout).await {
            Ok(mut listener) => {
                if ever_connected {
                    metrics.reconnects.inc();
                    info!(channel, "Plan change listener reconnected");
                } else {
                    info!(channel, "Plan change listener connected");
                }
                ever_connected = true;
                backoff = FIRST_BACKOFF;
                // LISTEN is active: anything committed from now on will be announced. Anything
                // before may have been missed, so start from an empty cache.
                plans.resume_caching().await;
                metrics.connected.set(1);
                connected.send_replace(true);
                // After the drop-all: this replica's barrier vouches only for what it applied.
                // Its notice arrives through the listener below.
                if let Err(err) = consistency.feed_connected(true).await {
                    warn!(channel, error = %err, "cannot send a consistency barrier; tokens read the database until one arrives");
                }

                let lost = loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) if notification.channel() == channels.barriers => {
                            match consistency::parse_barrier(notification.payload()) {
                                Some(position) => consistency.applied_through(position),
                                None => warn!(
                                    payload = notification.payload(),
                                    "unreadable consistency barrier"
                                ),
                            }
                        }
                        Ok(Some(notification)) => {
                            apply(&plans, notification.payload()).await;
                            metrics.notifications.inc();
                        }
                        Ok(None) => break "connection closed".to_owned(),
                        Err(err) => break err.to_string(),
                    }
                };
                plans.suspend_caching();
                // Never fails when going down.
                let _ = consistency.feed_connected(false).await;
                metrics.connected.set(0);
                connected.send_replace(false);
                warn!(
                    channel,
                    reason = %lost,
                    "Plan change listener lost its connection; reading through to the database until it is back"
                );
            }
            Err(err) => {
                warn!(channel, error = %err, retry_in = ?backoff, "Plan change listener cannot connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn listen(
    options: &PgConnectOptions,
    channels: &Channels,
    connect_timeout: Duration,
) -> Result<PgListener, sea_orm::sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(connect_timeout)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // One connection per attempt: after a loss we build a new listener rather than let sqlx
    // reconnect silently, because a reconnect means notifications may have been missed.
    listener.eager_reconnect(false);
    listener
        .listen_all([channels.channel.as_str(), channels.barriers.as_str()])
        .await?;
    Ok(listener)
}

/// The trigger's payload.
#[derive(Debug, Deserialize)]
struct Change {
    op: String,
    old: Option<Row>,
    new: Option<Row>,
}

#[derive(Debug, Deserialize)]
struct Row {
    user_id: i32,
    connection_type: String,
}

impl Row {
    fn owner(&self) -> Option<PlanOwner> {
        let connection_type = ConnectionType::try_from_value(&self.connection_type).ok()?;
        Some(PlanOwner {
            user_id: self.user_id,
            connection_type,
        })
    }
}

async fn apply(plans: &PlanService, payload: &str) {
    debug!(payload, "plan change notification");
    let change: Change = match serde_json::from_str(payload) {
        Ok(change) => change,
        Err(err) => {
            // Not understood: dropping everything is always correct.
            warn!(payload, error = %err, "unreadable plan change notification; dropping the whole cache");
            plans.invalidate_all().await;
            return;
        }
    };
    if change.op == "TRUNCATE" {
        plans.invalidate_all().await;
        return;
    }
    let before = change.old.as_ref().map(Row::owner);
    let after = change.new.as_ref().map(Row::owner);
    if before.flatten().is_none() && after.flatten().is_none()
        || before.is_some_and(|owner| owner.is_none())
        || after.is_some_and(|owner| owner.is_none())
    {
        warn!(
            payload,
            "plan change notification without a known owner; dropping the whole cache"
        );
        plans.invalidate_all().await;
        return;
    }
    plans
        .apply_external_change(before.flatten(), after.flatten())
        .await;
}
