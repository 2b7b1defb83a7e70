//! [`Renderings`]: bytes derived from one published list (a transport's serialized event),
//! computed once and shared by every subscriber of the key; and [`LiveEvent`], which carries them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::plans::PlanList;

/// Bytes derived from one published list, each kind computed once: the first subscriber that
/// asks for a kind renders it, the others (of any transport) wait for and share the same bytes.
#[derive(Default)]
pub struct Renderings(Mutex<HashMap<String, Arc<OnceCell<Bytes>>>>);

impl Renderings {
    /// The bytes of kind `key` (e.g. a GraphQL document and its variables), rendered by `render`
    /// if nobody rendered them yet.
    pub(crate) async fn get_or_render<F, Fut>(&self, key: &str, render: F) -> Bytes
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Bytes>,
    {
        let cell = {
            let mut cells = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match cells.get(key) {
                Some(cell) => cell.clone(),
                None => cells.entry(key.to_owned()).or_default().clone(),
            }
        };
        cell.get_or_init(render).await.clone()
    }
}

/// One event of a live subscription: the list, and the renderings shared by every subscriber
/// that gets this same published list.
pub struct LiveEvent {
    pub list: PlanList,
    pub renderings: Arc<Renderings>,
}
