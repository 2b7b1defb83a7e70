//! Database migrations for plans-api, in the order they must run.
//!
//! Migrations never import the application's entities: an old migration must keep compiling (and
//! meaning the same thing) when the entities change later.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_plans_table;
mod m20261125_000002_notify_plan_changes;
mod m20261207_000001_create_consistency_origin;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_plans_table::Migration),
            Box::new(m20261125_000002_notify_plan_changes::Migration),
            Box::new(m20261207_000001_create_consistency_origin::Migration),
        ]
    }
}
