//! async-graphql-axum as its examples use it, for the transport comparison in ARCHITECTURE.md:
//! `/graphql` for the graphql-http audit and plain requests, `/ws` for idle subscribers.
use async_graphql::{EmptyMutation, Object, Schema, Subscription};
use async_graphql_axum::{GraphQL, GraphQLSubscription};
use axum::Router;
use futures_util::{Stream, StreamExt};

struct Query;

#[Object]
impl Query {
    async fn plans(&self, user_id: Option<i32>) -> Vec<i32> {
        user_id.into_iter().collect()
    }
}

struct Live;

#[Subscription]
impl Live {
    /// Sends one list, then stays open without sending anything (an idle subscriber).
    async fn plans(&self) -> impl Stream<Item = Vec<i32>> {
        futures_util::stream::once(async { Vec::new() }).chain(futures_util::stream::pending())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let schema = Schema::new(Query, EmptyMutation, Live);
    let app = Router::new()
        .route_service("/graphql", GraphQL::new(schema.clone()))
        .route_service("/ws", GraphQLSubscription::new(schema));
    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8100".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}
