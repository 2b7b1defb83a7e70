//! The load: readers sending random queries, and one writer checking read-your-writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::Client;

pub const TYPES: [&str; 3] = ["HOTSPOT", "PPPOE", "STATIC"];

/// Counts shared by the load tasks.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub writes: AtomicU64,
    pub first_errors: Mutex<Vec<String>>,
}

impl Stats {
    async fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().await;
        if first.len() < 10 {
            first.push(what);
        }
    }
}

/// One random read; returns its latency.
async fn read_once(client: &Client, rng: &mut SmallRng, tenants: i32) -> Result<Duration, String> {
    let user_id = rng.random_range(1..=tenants);
    let kind = TYPES[rng.random_range(0..TYPES.len())];
    let (query, variables) = match rng.random_range(0..100) {
        0..40 => (
            "query($u: Int) { plans(userId: $u) { id name connectionType priceCents durationMinutes createdAt } }",
            json!({ "u": user_id }),
        ),
        40..75 => (
            "query($u: Int, $t: ConnectionType) { plans(userId: $u, connectionType: $t) { id name priceCents } }",
            json!({ "u": user_id, "t": kind }),
        ),
        75..88 => (
            "query($t: ConnectionType) { plans(connectionType: $t) { id } }",
            json!({ "t": kind }),
        ),
        88..90 => ("{ plans { id userId } }", json!({})),
        _ => (
            "query($id: ID!) { plan(id: $id) { id name } }",
            json!({ "id": rng.random_range(1..=tenants).to_string() }),
        ),
    };
    let started = Instant::now();
    let data = client.graphql(query, variables, false).await?;
    let answered = match data.get("plans") {
        Some(list) => list.is_array(),
        // Seeded plans (ids 1..=tenants) are never deleted: `plan` must find one.
        None => data.get("plan").is_some_and(Value::is_object),
    };
    if answered {
        Ok(started.elapsed())
    } else {
        Err(format!("unexpected data: {data}"))
    }
}

pub async fn reader(
    client: Client,
    seed: u64,
    tenants: i32,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match read_once(&client, &mut rng, tenants).await {
            Ok(latency) => {
                latencies.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
            }
            Err(err) => stats.error(format!("read: {err}")).await,
        }
        stats.requests.fetch_add(1, Ordering::Relaxed);
    }
    latencies
}

/// Creates and deletes now and then; after each write, the tenant's list must show it.
pub async fn writer(
    client: Client,
    args_tenants: i32,
    every: Duration,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) {
    let mut rng = SmallRng::seed_from_u64(u64::MAX);
    let mut created: std::collections::VecDeque<(i32, String)> = Default::default();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let delete = created.len() >= 50 || (!created.is_empty() && rng.random_bool(0.5));
        let result = if delete {
            let (user_id, id) = created.pop_front().expect("a created plan");
            delete_and_check(&client, user_id, &id).await
        } else {
            let user_id = rng.random_range(1..=args_tenants);
            let kind = TYPES[rng.random_range(0..TYPES.len())];
            match create_and_check(&client, user_id, kind).await {
                Ok(id) => {
                    created.push_back((user_id, id));
                    Ok(())
                }
                Err(err) => Err(err),
            }
        };
        stats.writes.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(2, Ordering::Relaxed);
        if let Err(err) = result {
            stats.error(format!("write: {err}")).await;
        }
    }
}

async fn create_and_check(client: &Client, user_id: i32, kind: &str) -> Result<String, String> {
    let id = client.create(user_id, kind).await?;
    if !client.user_plan_ids(user_id).await?.contains(&id) {
        return Err(format!(
            "stale read: plan {id} missing from user {user_id}'s list after createPlan returned"
        ));
    }
    Ok(id)
}

async fn delete_and_check(client: &Client, user_id: i32, id: &str) -> Result<(), String> {
    let data = client
        .graphql(
            "mutation($id: ID!) { deletePlan(id: $id) }",
            json!({ "id": id }),
            true,
        )
        .await?;
    if data["deletePlan"] != json!(true) {
        return Err(format!("deletePlan({id}) = {data}"));
    }
    if client
        .user_plan_ids(user_id)
        .await?
        .iter()
        .any(|plan| plan == id)
    {
        return Err(format!(
            "stale read: plan {id} still in user {user_id}'s list after deletePlan returned"
        ));
    }
    Ok(())
}
