//! What a response was built from. Resolvers record the read that vouches for each plan list they
//! served; anything else that shapes an answer (a mutation, the caller's credential) marks it as
//! not reusable. The HTTP edge's response cache keeps response bytes only under these reads.
//! Mutations that succeeded mark the response as having written (it then gets a consistency
//! token), and [`freshness`] tells resolvers where a request's reads may come from.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_graphql::Context;
use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};

use crate::plans::{Freshness, PlanRead};

/// Collects, during one execution, the reads its response depends on. Resolvers may run
/// concurrently, hence the lock; it is taken once per list read.
#[derive(Debug)]
pub(super) struct ReadLog {
    reads: Mutex<Vec<PlanRead>>,
    reusable: AtomicBool,
    wrote: AtomicBool,
}

impl Default for ReadLog {
    fn default() -> Self {
        Self {
            reads: Mutex::new(Vec::new()),
            reusable: AtomicBool::new(true),
            wrote: AtomicBool::new(false),
        }
    }
}

impl ReadLog {
    /// What was recorded (called once execution has ended).
    pub(super) fn read_set(&self) -> ReadSet {
        ReadSet {
            reads: self
                .reads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_slice()
                .into(),
            reusable: self.reusable.load(Ordering::Relaxed),
            wrote: self.wrote.load(Ordering::Relaxed),
        }
    }
}

/// Records that a mutation of the running request changed a plan. (One that found nothing to
/// change wrote nothing to read back, and answers exactly as for an id that does not exist.)
pub(super) fn mark_wrote(ctx: &Context<'_>) {
    if let Some(log) = ctx.data_opt::<Arc<ReadLog>>() {
        log.wrote.store(true, Ordering::Relaxed);
    }
}

/// Where the running request's plan reads may come from: the caches, unless the request carried
/// a consistency token this replica could not vouch for in time.
pub(super) fn freshness(ctx: &Context<'_>) -> Freshness {
    ctx.data_opt::<Freshness>().copied().unwrap_or_default()
}

/// Records that the running request's response was built from `read`.
pub(super) fn record(ctx: &Context<'_>, read: PlanRead) {
    if let Some(log) = ctx.data_opt::<Arc<ReadLog>>() {
        log.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(read);
    }
}

/// Marks the running request's response as depending on more than the plan lists it read (a
/// mutation, the caller's credential): it must not be given to anyone else.
pub(super) fn mark_not_reusable(ctx: &Context<'_>) {
    if let Some(log) = ctx.data_opt::<Arc<ReadLog>>() {
        mark_log_not_reusable(log);
    }
}

fn mark_log_not_reusable(log: &ReadLog) {
    log.reusable.store(false, Ordering::Relaxed);
}

/// The plan lists one response was built from, and whether anything else shaped it.
#[derive(Debug, Clone)]
pub struct ReadSet {
    reads: Box<[PlanRead]>,
    reusable: bool,
    wrote: bool,
}

impl ReadSet {
    /// Whether the same request, while these reads stay current, gets the same response whoever
    /// sends it: only queries ran, and nothing consulted the caller.
    pub(crate) fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Whether a mutation changed a plan: the response then carries a consistency token.
    pub(crate) fn wrote(&self) -> bool {
        self.wrote
    }

    /// The moment the first of these lists expires (or `latest`, if that is earlier).
    pub(crate) fn expires_at(&self, latest: Instant) -> Instant {
        self.reads
            .iter()
            .map(PlanRead::expires_at)
            .fold(latest, Instant::min)
    }

    pub(super) fn reads(&self) -> &[PlanRead] {
        &self.reads
    }
}

/// Marks a request not reusable when its document holds anything but queries. Called on the
/// parsed document, whatever its source, by the extension that learns the operation's type
/// ([`super::metrics::CountOperations`]: one extension rather than two, as each one costs every
/// resolved field a boxed future).
pub(super) fn record_operation_types(ctx: &ExtensionContext<'_>, document: &ExecutableDocument) {
    let only_queries = match &document.operations {
        DocumentOperations::Single(operation) => operation.node.ty == OperationType::Query,
        DocumentOperations::Multiple(operations) => operations
            .values()
            .all(|operation| operation.node.ty == OperationType::Query),
    };
    if !only_queries && let Some(log) = ctx.data_opt::<Arc<ReadLog>>() {
        mark_log_not_reusable(log);
    }
}
