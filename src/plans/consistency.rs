//! Read your writes on every replica: consistency tokens.
//!
//! A response in which a mutation succeeded carries a token naming a point just after its
//! writes. A request that carries one is answered by any replica only from a state that includes
//! every change committed before the token was issued. This module issues tokens, parses them,
//! and decides for a request whether this replica is already there ([`Outcome::Current`]), gets
//! there by waiting a little for its change feed ([`Outcome::Waited`]), or must read the
//! database past its caches ([`Outcome::Database`]).
//!
//! (Over 400 lines because this doc carries the argument for why a token is never answered
//! stale, next to the code it argues about; the code itself is under 400.)
//!
//! # A token
//!
//! `1.<origin>.<issuer>.<position>`, lowercase hex: the database's origin (a random id made by
//! the migration `m20261207_000001`, so a token of another database is refused rather than
//! compared), the process that issued it, and a position. On PostgreSQL with the change feed on,
//! the position is a WAL location; otherwise it is the issuing process's own counter.
//!
//! # Why no answer can be stale (PostgreSQL, change feed on)
//!
//! Every replica listens on two channels of its schema: `plans_changed:` (the trigger's notice
//! of each committed change, see [`super::change_feed`]) and `plans_barrier:`. Issuing a token is
//! one autocommit statement that reads the WAL insert position `p` and, in the same transaction,
//! sends `p` on `plans_barrier:`. The token's position is `p`. Then:
//!
//! 1. Every write `W` the token covers committed before the statement began (the response that
//!    wrote is answered after its writes committed, and the token is issued after that; for
//!    another client's write, "committed before the token was issued" is the definition). So
//!    `W`'s notice entered PostgreSQL's notification queue before the barrier's: PostgreSQL
//!    serialises notifying transactions with a lock held from pre-commit until after commit,
//!    so queue order is commit order, and every listener receives notices in queue order.
//! 2. A replica's listener task applies each notice (a fenced invalidation of exactly the keys
//!    it names, plus the live lists' wake-up) before it receives the next one. When it receives
//!    a barrier carrying `p`, it has applied every notice queued before it, and only then does
//!    it raise its *applied* position to `p` ([`Consistency::applied_through`]).
//! 3. The same holds for *any* barrier, whoever sent it: a barrier read its position `b` before
//!    its own commit, and a write whose token `p <= b` had its commit record below `b`, so it
//!    had already committed, or was committing while holding the notification lock, when the
//!    barrier read `b`; either way its notice is queued before the barrier's.
//! 4. A request with token `p` is [`Outcome::Current`] when *applied* `>= p`: by 2 and 3, every
//!    write the token covers has been invalidated on this replica, and the fence (see
//!    [`crate::cache`]) guarantees that a read starting after an invalidation never gets the
//!    list from before it, from the plan cache or the response cache (whose entries are vouched
//!    for by plan-cache reads). Otherwise the request waits, at most `CONSISTENCY_WAIT_MS`, for
//!    *applied* to reach `p` ([`Outcome::Waited`]), and failing that reads the database directly,
//!    past both caches ([`Outcome::Database`]), which is never stale.
//! 5. A listener that lost its connection may have missed notices. Until it is back the service
//!    reads through to the database anyway; once it listens again the whole cache is dropped
//!    (fenced), and only then does the replica send a barrier of its own, so *applied* rises only
//!    past positions whose changes the dropped cache can no longer hide. *Applied* never falls:
//!    what it vouched for before the loss was applied before the loss.
//!
//! A token never enters a cache key, and a current token costs one atomic load. A burst of
//! requests waiting for the same barrier costs no round trip at all: the writer's own barrier is
//! already on its way to every replica.
//!
//! # One replica (SQLite), or the change feed off
//!
//! Nothing tells this replica about writes made elsewhere, so it vouches only for tokens it
//! issued itself (its own writes invalidate its caches before they return). A token from
//! another process (another replica, or this one before a restart) reads the database.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::Notify;
use tracing::debug;

/// The first part of every token: its format's version.
const VERSION: &str = "1";

/// Where a replica's barriers go: beside the change feed's `plans_changed:` channel.
pub const BARRIER_CHANNEL_PREFIX: &str = "plans_barrier:";

/// A consistency token, as a client carries it (`Plans-Consistency`, the `plans_consistency`
/// cookie, `connection_init`'s `plansConsistency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyToken {
    origin: u64,
    issuer: u64,
    position: u64,
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{VERSION}.{:016x}.{:016x}.{:x}",
            self.origin, self.issuer, self.position
        )
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a consistency token issued by this API")]
    Malformed,
    #[error("a consistency token issued for another database")]
    Foreign,
}

impl ConsistencyToken {
    /// Reads a token's text (at most 128 printable characters), whatever database issued it.
    fn parse(text: &str) -> Result<Self, TokenError> {
        if text.len() > 128 {
            return Err(TokenError::Malformed);
        }
        let mut parts = text.split('.');
        let (Some(VERSION), Some(origin), Some(issuer), Some(position), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let hex = |part: &str| {
            // from_str_radix also takes a sign: only lowercase hex digits are a token's.
            if part.is_empty()
                || part.len() > 16
                || !part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(TokenError::Malformed);
            }
            u64::from_str_radix(part, 16).map_err(|_| TokenError::Malformed)
        };
        Ok(Self {
            origin: hex(origin)?,
            issuer: hex(issuer)?,
            position: hex(position)?,
        })
    }
}

/// How a request that carried a token was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This replica had already applied everything the token covers: caches as usual.
    Current,
    /// It got there by waiting for its change feed: caches as usual.
    Waited,
    /// It could not tell in time: the request reads the database, past both caches.
    Database,
}

impl Outcome {
    /// Where the request's reads may come from.
    pub(crate) fn freshness(self) -> Freshness {
        match self {
            Self::Current | Self::Waited => Freshness::Cached,
            Self::Database => Freshness::Database,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Waited => "waited",
            Self::Database => "database",
        }
    }
}

/// Where a request's plan reads may come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Freshness {
    /// The caches (the default; never stale for writes this replica has applied).
    #[default]
    Cached,
    /// The database, past every cache, filling none.
    Database,
}

/// Settings of the consistency tokens.
#[derive(Debug, Clone, Copy)]
pub struct ConsistencySettings {
    /// `CONSISTENCY_WAIT_MS`: how long a request waits for the change feed before it reads the
    /// database.
    pub max_wait: Duration,
}

/// `plans_consistency_requests_total{outcome}` and `plans_consistency_wait_seconds`.
#[derive(Clone)]
pub struct ConsistencyMetrics {
    outcomes: [IntCounter; 3],
    wait: Histogram,
}

impl ConsistencyMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "plans_consistency_requests_total",
                "Requests that carried a consistency token, by how they were answered: current \
                 (caches, at once), waited (caches, after the change feed caught up) or database.",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        let wait = Histogram::with_opts(
            HistogramOpts::new(
                "plans_consistency_wait_seconds",
                "How long a request with a consistency token this replica had not reached yet \
                 waited for its change feed (waited and database outcomes).",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0,
            ]),
        )?;
        registry.register(Box::new(wait.clone()))?;
        // Resolved once: counting an outcome is one atomic add.
        let outcomes = [Outcome::Current, Outcome::Waited, Outcome::Database]
            .map(|outcome| requests.with_label_values(&[outcome.label()]));
        Ok(Self { outcomes, wait })
    }

    fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].inc();
    }
}

/// How this replica learns of changes made elsewhere.
enum Mode {
    /// PostgreSQL with the change feed: positions are WAL locations; barriers go over
    /// `channel`.
    Feed {
        channel: String,
        /// Every change committed before this WAL position has been applied here.
        applied: AtomicU64,
        /// Woken each time `applied` rises or the feed connects or disconnects.
        advanced: Notify,
        /// Whether the listener is connected (else reads go to the database anyway).
        connected: AtomicBool,
    },
    /// SQLite, or the feed off: positions are this process's own count of tokens issued.
    Local { issued: AtomicU64 },
}

/// This replica's side of read-your-writes: issues tokens, and decides how a request with one is
/// answered. Cheap to share (`Arc`).
pub struct Consistency {
    db: DatabaseConnection,
    origin: u64,
    /// This process, for tokens that only it can vouch for (the [`Mode::Local`] case).
    issuer: u64,
    mode: Mode,
    settings: ConsistencySettings,
    metrics: ConsistencyMetrics,
}

impl Consistency {
    /// Reads the database's origin. `feed_schema`: the schema whose change feed this replica
    /// listens to (PostgreSQL with `PLAN_CACHE_LISTEN`), none when it has no feed.
    pub async fn load(
        db: DatabaseConnection,
        feed_schema: Option<&str>,
        settings: ConsistencySettings,
        metrics: ConsistencyMetrics,
    ) -> Result<Self, DbErr> {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT origin FROM plans_consistency_origin LIMIT 1",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("plans_consistency_origin has no row".into()))?;
        let origin: String = row.try_get("", "origin")?;
        let origin = u64::from_str_radix(&origin, 16)
            .map_err(|_| DbErr::Custom(format!("unreadable consistency origin {origin:?}")))?;
        let mode = match feed_schema {
            Some(schema) => Mode::Feed {
                channel: format!("{BARRIER_CHANNEL_PREFIX}{schema}"),
                applied: AtomicU64::new(0),
                advanced: Notify::new(),
                connected: AtomicBool::new(false),
            },
            None => Mode::Local {
                issued: AtomicU64::new(0),
            },
        };
        Ok(Self {
            db,
            origin,
            issuer: rand::random(),
            mode,
            settings,
            metrics,
        })
    }

    /// Reads a token's text: [`TokenError::Foreign`] if another database issued it.
    pub fn parse(&self, text: &str) -> Result<ConsistencyToken, TokenError> {
        let token = ConsistencyToken::parse(text)?;
        if token.origin != self.origin {
            return Err(TokenError::Foreign);
        }
        Ok(token)
    }

    /// A token naming a point after every change committed so far (call it once the request's
    /// writes have returned). On PostgreSQL with the feed, also a barrier every replica applies.
    pub(crate) async fn issue(&self) -> Result<ConsistencyToken, DbErr> {
        let position = match &self.mode {
            Mode::Feed { channel, .. } => self.send_barrier(channel).await?,
            Mode::Local { issued } => issued.fetch_add(1, Ordering::Relaxed) + 1,
        };
        Ok(ConsistencyToken {
            origin: self.origin,
            issuer: self.issuer,
            position,
        })
    }

    /// How a request carrying `token` is answered; waits (bounded) when this replica is behind.
    pub(crate) async fn catch_up(&self, token: ConsistencyToken) -> Outcome {
        let outcome = match &self.mode {
            Mode::Local { .. } if token.issuer == self.issuer => Outcome::Current,
            Mode::Local { .. } => Outcome::Database,
            Mode::Feed {
                applied,
                advanced,
                connected,
                ..
            } => {
                if applied.load(Ordering::Acquire) >= token.position {
                    Outcome::Current
                } else {
                    let started = Instant::now();
                    let reached = self
                        .wait_for(token.position, applied, advanced, connected)
                        .await;
                    self.metrics.wait.observe(started.elapsed().as_secs_f64());
                    if reached {
                        Outcome::Waited
                    } else {
                        Outcome::Database
                    }
                }
            }
        };
        self.metrics.count(outcome);
        outcome
    }

    async fn wait_for(
        &self,
        position: u64,
        applied: &AtomicU64,
        advanced: &Notify,
        connected: &AtomicBool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + self.settings.max_wait;
        loop {
            let woken = advanced.notified();
            tokio::pin!(woken);
            // Registered before the checks, so a rise between them and the wait is not missed.
            woken.as_mut().enable();
            if applied.load(Ordering::Acquire) >= position {
                return true;
            }
            // Without a listener nothing will arrive; its reads go to the database anyway.
            if !connected.load(Ordering::Acquire) {
                return false;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return applied.load(Ordering::Acquire) >= position;
            }
        }
    }

    /// The change feed's barrier channel (`plans_barrier:<schema>`), when this replica has one.
    pub(crate) fn barrier_channel(&self) -> Option<&str> {
        match &self.mode {
            Mode::Feed { channel, .. } => Some(channel),
            Mode::Local { .. } => None,
        }
    }

    /// Called by the change feed when it receives a barrier carrying `position`, after applying
    /// every notice before it.
    pub(crate) fn applied_through(&self, position: u64) {
        if let Mode::Feed {
            applied, advanced, ..
        } = &self.mode
        {
            applied.fetch_max(position, Ordering::AcqRel);
            advanced.notify_waiters();
        }
    }

    /// Called by the change feed when its listener connects (after the cache was dropped) or
    /// loses its connection. On connecting it sends a barrier of its own (see the module doc).
    pub(crate) async fn feed_connected(&self, up: bool) -> Result<(), DbErr> {
        let Mode::Feed {
            channel,
            advanced,
            connected,
            ..
        } = &self.mode
        else {
            return Ok(());
        };
        connected.store(up, Ordering::Release);
        advanced.notify_waiters();
        if up {
            self.send_barrier(channel).await?;
        }
        Ok(())
    }

    /// One statement: reads the WAL insert position and sends it on the barrier channel, in one
    /// transaction (see the module doc, point 3).
    async fn send_barrier(&self, channel: &str) -> Result<u64, DbErr> {
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH here AS (SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS position) \
                 SELECT position, pg_notify($1, position::text)::text AS sent FROM here",
                [channel.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("the barrier returned no row".into()))?;
        let position: i64 = row.try_get("", "position")?;
        debug!(channel, position, "consistency barrier sent");
        u64::try_from(position).map_err(|_| DbErr::Custom("negative WAL position".into()))
    }
}

/// A barrier's payload: the position it read.
pub(crate) fn parse_barrier(payload: &str) -> Option<u64> {
    payload.parse().ok()
}

#[cfg(test)]
mod tests;
