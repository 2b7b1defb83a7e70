//! PostgreSQL only: every change to `plans`, whoever makes it (this server, another replica, plain
//! SQL, a billing job), is announced with `pg_notify` so every replica can invalidate precisely.
//!
//! The channel is `plans_changed:<schema of the table>`, so deployments (and tests) sharing one
//! database in different schemas do not hear each other. Notifications are sent at commit, in
//! commit order. The payload carries the owner and type before and after the change, which is what
//! a replica needs to drop exactly the affected keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION plans_notify_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('plans_changed:' || TG_TABLE_SCHEMA, json_build_object('op', TG_OP)::text);
        RETURN NULL;
    END IF;
    PERFORM pg_notify(
        'plans_changed:' || TG_TABLE_SCHEMA,
        json_build_object(
            'op', TG_OP,
            'old', CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN json_build_object(
                'id', OLD.id, 'user_id', OLD.user_id, 'connection_type', OLD.connection_type) END,
            'new', CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN json_build_object(
                'id', NEW.id, 'user_id', NEW.user_id, 'connection_type', NEW.connection_type) END
        )::text
    );
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS plans_notify_row_change ON plans;
CREATE TRIGGER plans_notify_row_change
    AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION plans_notify_change();

DROP TRIGGER IF EXISTS plans_notify_truncate ON plans;
CREATE TRIGGER plans_notify_truncate
    AFTER TRUNCATE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION plans_notify_change();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS plans_notify_truncate ON plans;
DROP TRIGGER IF EXISTS plans_notify_row_change ON plans;
DROP FUNCTION IF EXISTS plans_notify_change();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
