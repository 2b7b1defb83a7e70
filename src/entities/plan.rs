//! The `plans` table's sea-orm entity and its `connection_type` column. Only `plans/` uses it
//! (the repository, and `From<Model>` for [`crate::plans::Plan`]); the rest sees `Plan`
//! and the re-exported `ConnectionType`.

use sea_orm::entity::prelude::*;

/// How a plan is delivered to the subscriber. Stored as lower-case text, which the migration
/// constrains with a CHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ConnectionType {
    #[sea_orm(string_value = "hotspot")]
    Hotspot,
    #[sea_orm(string_value = "pppoe")]
    Pppoe,
    #[sea_orm(string_value = "static")]
    Static,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub connection_type: ConnectionType,
    pub price_cents: i32,
    pub duration_minutes: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
