use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Plans {
    Table,
    Id,
    UserId,
    Name,
    ConnectionType,
    PriceCents,
    DurationMinutes,
    CreatedAt,
}

/// One index per filtered query shape; each ends in `id` so the `ORDER BY id` the API promises
/// is read straight off the index. The unfiltered list uses the primary key.
const INDEXES: [(&str, &[Plans]); 3] = [
    ("idx_plans_user_id_id", &[Plans::UserId, Plans::Id]),
    (
        "idx_plans_connection_type_id",
        &[Plans::ConnectionType, Plans::Id],
    ),
    (
        "idx_plans_user_id_connection_type_id",
        &[Plans::UserId, Plans::ConnectionType, Plans::Id],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .if_not_exists()
                    .col(pk_auto(Plans::Id))
                    .col(integer(Plans::UserId).check(Expr::col(Plans::UserId).gte(1)))
                    .col(string_len(Plans::Name, 100))
                    .col(string_len(Plans::ConnectionType, 16).check(
                        Expr::col(Plans::ConnectionType).is_in(["hotspot", "pppoe", "static"]),
                    ))
                    .col(integer(Plans::PriceCents).check(Expr::col(Plans::PriceCents).gte(0)))
                    .col(
                        integer(Plans::DurationMinutes)
                            .check(Expr::col(Plans::DurationMinutes).between(1, 527_040)),
                    )
                    .col(timestamp_with_time_zone(Plans::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Plans::Table).if_not_exists();
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Plans::Table).to_owned())
            .await
    }
}
