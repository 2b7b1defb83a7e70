//! The database's consistency origin: a random id made once, when the database (or, on
//! PostgreSQL, the schema) is first migrated. Every consistency token the server issues names it,
//! so a token issued by another database is recognised as foreign rather than compared with
//! positions it has nothing to do with.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS plans_consistency_origin (origin TEXT NOT NULL)";

/// 64 random bits as 16 lowercase hex digits, in each database's own words.
const INSERT_POSTGRES: &str = "INSERT INTO plans_consistency_origin (origin) \
     SELECT substr(md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), 1, 16) \
     WHERE NOT EXISTS (SELECT 1 FROM plans_consistency_origin)";
const INSERT_SQLITE: &str = "INSERT INTO plans_consistency_origin (origin) \
     SELECT lower(hex(randomblob(8))) \
     WHERE NOT EXISTS (SELECT 1 FROM plans_consistency_origin)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(CREATE).await?;
        let insert = match manager.get_database_backend() {
            DbBackend::Postgres => INSERT_POSTGRES,
            _ => INSERT_SQLITE,
        };
        db.execute_unprepared(insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS plans_consistency_origin")
            .await?;
        Ok(())
    }
}
