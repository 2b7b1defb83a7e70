//! `Subscription`: thin, as every resolver. The live list itself (wake-ups, reloads, ordering)
//! is [`crate::plans::PlanService::watch`]'s. The resolver answers only the first event and hands
//! the live list to [`super::live_events`], which renders later events once per key and document
//! rather than once per subscriber.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, ErrorExtensions, Result, Subscription};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use super::errors::{ApiError, IntoGraphql};
use super::reads::freshness;
use super::request_data::{ConnectionSlot, Handoff, RenderList};
use super::types::{ConnectionType, PlanItems};
use crate::plans::{PlanFilter, PlanService};

#[derive(Default)]
pub struct SubscriptionRoot;

/// The live subscriptions of one connection (a WebSocket), bounded: put into the connection's
/// data by the transport. Requests without it (SSE: one operation per connection) are not
/// counted here.
#[derive(Debug, Clone)]
pub struct ConnectionSubscriptions {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl ConnectionSubscriptions {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Subscriptions open on this connection now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn acquire(&self) -> Result<ConnectionSlot> {
        self.open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.max).then_some(open + 1)
            })
            .map_err(|_| ApiError::ConnectionSubscriptionLimit { max: self.max }.extend())?;
        Ok(ConnectionSlot(self.open.clone()))
    }
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The list now, then again each time it changes.
    async fn plans(
        &self,
        ctx: &Context<'_>,
        user_id: Option<i32>,
        connection_type: Option<ConnectionType>,
    ) -> Result<BoxStream<'static, PlanItems>> {
        // Rendering a later event of a live subscription: just that list.
        if let Some(RenderList(list)) = ctx.data_opt::<RenderList>() {
            return Ok(stream::once(std::future::ready(PlanItems(list.clone()))).boxed());
        }
        let filter = PlanFilter {
            user_id,
            connection_type: connection_type.map(Into::into),
        };
        let slot = ctx
            .data_opt::<ConnectionSubscriptions>()
            .map(ConnectionSubscriptions::acquire)
            .transpose()?;
        let service = ctx.data::<Arc<PlanService>>().map_err(|_| {
            tracing::error!("schema built without a PlanService");
            ApiError::Internal.extend()
        })?;
        let handoff = ctx.data_opt::<Handoff>().ok_or_else(|| {
            tracing::error!("a subscription run outside GraphqlApi::subscribe");
            ApiError::Internal.extend()
        })?;
        let mut live = service
            .watch_with(filter, freshness(ctx))
            .await
            .into_graphql()?;
        // The first event only; the live list (with its place on the connection) goes to the
        // transport's stream, which renders the later events.
        let Some(first) = live.next().await else {
            return Ok(stream::empty().boxed());
        };
        handoff.put(live, slot);
        Ok(stream::once(std::future::ready(PlanItems(first.list))).boxed())
    }
}
