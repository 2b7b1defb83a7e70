//! `cargo run -p migration -- up|down|status|fresh`, against `DATABASE_URL`.
//!
//! The server migrates at start-up; this CLI is for operators who want to do it by hand.

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://plans.db?mode=rwc".to_owned());
    let command = std::env::args().nth(1).unwrap_or_else(|| "up".to_owned());
    let db = Database::connect(&url).await?;
    match command.as_str() {
        "up" => Migrator::up(&db, None).await?,
        "down" => Migrator::down(&db, Some(1)).await?,
        "status" => Migrator::status(&db).await?,
        "fresh" => Migrator::fresh(&db).await?,
        other => return Err(format!("unknown command {other:?}; use up|down|status|fresh").into()),
    }
    Ok(())
}
