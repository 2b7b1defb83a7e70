//! The repository's own tests: the SQL of moves and updates on both databases.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database};

use super::*;
use crate::plans::ConnectionType;

/// One in-memory SQLite database (one connection: each would have its own), migrated.
async fn repo() -> PlanRepo {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate");
    PlanRepo::new(db)
}

fn owner(user_id: i32, connection_type: ConnectionType) -> PlanOwner {
    PlanOwner {
        user_id,
        connection_type,
    }
}

async fn insert(repo: &PlanRepo, owner: PlanOwner) -> Plan {
    let new = NewPlan {
        user_id: owner.user_id,
        name: "a plan".to_owned(),
        connection_type: owner.connection_type,
        price_cents: 100,
        duration_minutes: 60,
    };
    repo.insert(new).await.expect("insert")
}

/// `repo.update(…)`, which must not fail.
async fn update(
    repo: &PlanRepo,
    id: PlanId,
    owner: Option<i32>,
    changes: &PlanChanges,
) -> Option<Updated> {
    repo.update(id, owner, changes).await.expect("update")
}

#[tokio::test]
async fn a_move_reports_where_the_plan_was() {
    let repo = repo().await;
    let mut plan = insert(&repo, owner(1, ConnectionType::Hotspot)).await;
    for (from, to) in [
        (
            owner(1, ConnectionType::Hotspot),
            owner(2, ConnectionType::Pppoe),
        ),
        (
            owner(2, ConnectionType::Pppoe),
            owner(2, ConnectionType::Static),
        ),
        (
            owner(2, ConnectionType::Static),
            owner(3, ConnectionType::Static),
        ),
    ] {
        let changes = PlanChanges {
            user_id: Some(to.user_id),
            connection_type: Some(to.connection_type),
            ..PlanChanges::default()
        };
        let moved = update(&repo, plan.id, None, &changes).await.expect("found");
        assert_eq!((moved.from, moved.plan.owner()), (from, to));
        // Every column read back as written, the creation time included.
        assert_eq!(moved.plan, changes.applied_to(&plan));
        plan = moved.plan;
    }
    // Only its owner's move applies.
    let changes = PlanChanges {
        connection_type: Some(ConnectionType::Hotspot),
        ..PlanChanges::default()
    };
    assert!(update(&repo, plan.id, Some(1), &changes).await.is_none());
}

#[tokio::test]
async fn an_update_that_keeps_owner_and_type_names_its_keys_by_the_row_it_returns() {
    let repo = repo().await;
    let plan = insert(&repo, owner(4, ConnectionType::Static)).await;
    let repriced = PlanChanges {
        price_cents: Some(250),
        ..PlanChanges::default()
    };
    let updated = update(&repo, plan.id, None, &repriced)
        .await
        .expect("found");
    assert_eq!(updated.from, owner(4, ConnectionType::Static));
    assert_eq!(updated.plan, repriced.applied_to(&plan));
    // Another operator's id answers as a missing one, and nothing changes.
    assert!(update(&repo, plan.id, Some(5), &repriced).await.is_none());
    assert!(update(&repo, plan.id + 1, None, &repriced).await.is_none());
}

#[tokio::test]
async fn a_move_the_database_refuses_writes_nothing_and_leaves_no_transaction_open() {
    // One connection: a transaction left open on it would fail the next move's BEGIN.
    let repo = repo().await;
    let plan = insert(&repo, owner(6, ConnectionType::Pppoe)).await;
    // Past validation, into the CHECK (user_id >= 1).
    let refused = PlanChanges {
        user_id: Some(0),
        name: Some("renamed".to_owned()),
        ..PlanChanges::default()
    };
    for _ in 0..2 {
        let error = repo.update(plan.id, None, &refused).await.unwrap_err();
        assert!(matches!(error, UpdateFailed::BeforeWriting(_)), "{error:?}");
    }
    assert_eq!(repo.get(plan.id).await.expect("get"), Some(plan.clone()));
    let moved = PlanChanges {
        user_id: Some(7),
        ..PlanChanges::default()
    };
    let updated = update(&repo, plan.id, None, &moved).await.expect("found");
    assert_eq!(updated.from, owner(6, ConnectionType::Pppoe));
    assert_eq!(
        repo.get(plan.id).await.expect("get"),
        Some(moved.applied_to(&plan))
    );
}
