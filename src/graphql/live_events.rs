//! Live subscriptions as the transports send them: a stream of GraphQL responses already
//! serialized to JSON bytes.
//!
//! The first response is an ordinary execution (validation, limits, errors, the subscription
//! resolver starting the live list). Every later event renders a list published to all the
//! subscribers of its key, so it is rendered once per published list and request (document,
//! operation name, variables), by the first subscriber to need it, and the bytes are shared with
//! the others ([`crate::plans::Renderings`]): 10,000 subscribers of one key cost one execution and
//! one serialization per change, plus a copy of the bytes each. (The fields of a plan do not
//! depend on who asks, so subscribers with different credentials share too.)

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::{Data, Request, Response, ServerError, Variables};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::operation;
use super::request_data::{Handoff, Live, RenderList};
use super::schema::AppSchema;
use crate::auth::Caller;
use crate::plans::PlanList;

/// What renders a subscription's later events: the request again, without its data. It lives
/// as long as the subscription, so it holds the request once, as the text that also keys the
/// shared renderings; a rendering (once per change and key) parses the variables back.
struct Template {
    /// Document, operation name and variables (JSON), `\0`-separated.
    key: String,
    /// Where the operation name and the variables start in `key`.
    name_at: usize,
    variables_at: usize,
    caller: Option<Caller>,
    session: Arc<Data>,
}

impl Template {
    fn of(request: &Request, session: Arc<Data>) -> Self {
        let caller = request
            .data
            .get(&TypeId::of::<Caller>())
            .and_then(|caller| caller.downcast_ref::<Caller>())
            .copied();
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let name = request.operation_name.as_deref().unwrap_or_default();
        let name_at = request.query.len() + 1;
        let variables_at = name_at + name.len() + 1;
        let key = format!("{}\0{name}\0{variables}", request.query);
        Self {
            key,
            name_at,
            variables_at,
            caller,
            session,
        }
    }

    async fn render(&self, schema: &AppSchema, list: PlanList) -> Bytes {
        let query = &self.key[..self.name_at - 1];
        let name = &self.key[self.name_at..self.variables_at - 1];
        let variables = serde_json::from_str(&self.key[self.variables_at..])
            .map(Variables::from_json)
            .unwrap_or_default();
        let mut request = Request::new(query)
            .variables(variables)
            .data(RenderList(list));
        if !name.is_empty() {
            request = request.operation_name(name);
        }
        if let Some(caller) = self.caller {
            request = request.data(caller);
        }
        let response = schema
            .execute_stream_with_session_data(request, self.session.clone())
            .next()
            .await
            .unwrap_or_else(|| Response::from_errors(vec![ServerError::new("no event", None)]));
        to_bytes(&response)
    }
}

fn to_bytes(response: &Response) -> Bytes {
    // A response always serializes; should it not, the event is still valid JSON.
    serde_json::to_vec(response).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

enum State {
    Start {
        schema: AppSchema,
        request: Box<Request>,
        session: Arc<Data>,
    },
    /// A live list: later events rendered (shared) from its lists.
    Live {
        schema: AppSchema,
        template: Box<Template>,
        live: Box<Live>,
    },
    /// Anything else (a query, or a subscription refused before it started): the rest of its
    /// ordinary execution.
    Executed(BoxStream<'static, Response>),
}

/// Runs `request` (with the connection's `session` data, if any) as a stream of serialized
/// responses: one for a query or a refused subscription, one per event for a live list.
pub(super) fn subscribe(
    schema: AppSchema,
    request: Request,
    session: Option<Arc<Data>>,
) -> BoxStream<'static, Bytes> {
    let start = State::Start {
        schema,
        request: Box::new(request),
        session: session.unwrap_or_default(),
    };
    let events = futures::stream::unfold(start, |state| async move {
        match state {
            State::Start {
                schema,
                request,
                session,
            } => {
                let template = Template::of(&request, session.clone());
                let handoff = Handoff::default();
                let mut executed =
                    schema.execute_stream_with_session_data(request.data(handoff.clone()), session);
                let first = to_bytes(&executed.next().await?);
                let next = match handoff.take() {
                    Some(live) => State::Live {
                        schema,
                        template: Box::new(template),
                        live: Box::new(live),
                    },
                    None => State::Executed(executed),
                };
                Some((first, next))
            }
            State::Live {
                schema,
                template,
                mut live,
            } => {
                let event = live.list.next().await?;
                let bytes = event
                    .renderings
                    .get_or_render(&template.key, || template.render(&schema, event.list))
                    .await;
                Some((
                    bytes,
                    State::Live {
                        schema,
                        template,
                        live,
                    },
                ))
            }
            State::Executed(mut executed) => {
                let response = executed.next().await?;
                Some((to_bytes(&response), State::Executed(executed)))
            }
        }
    })
    .boxed();
    operation::in_span(events, operation::operation_span())
}
