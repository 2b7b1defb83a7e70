//! What a request's data carries between the transports' live events, the subscription resolver
//! and the operation's span: the markers themselves, in a file of their own that imports nothing
//! else of `graphql/`, so that the modules which put them in and those which read them do not
//! import each other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::plans::{LiveList, PlanList};

/// In a request's data: where the `plans` resolver leaves the live list it started.
#[derive(Clone, Default)]
pub(super) struct Handoff(Arc<Mutex<Option<Live>>>);

/// A live list and the place on its connection it holds while it runs.
pub(super) struct Live {
    pub(super) list: LiveList,
    _slot: Option<ConnectionSlot>,
}

impl Handoff {
    pub(super) fn put(&self, list: LiveList, slot: Option<ConnectionSlot>) {
        *self.lock() = Some(Live { list, _slot: slot });
    }

    pub(super) fn take(&self) -> Option<Live> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// In a request's data: render this list (a later event of a live subscription) and watch
/// nothing.
pub(super) struct RenderList(pub PlanList);

/// A subscription's place on its connection; given back when its stream is dropped.
pub(super) struct ConnectionSlot(pub(super) Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
