//! sea-orm entities: the database's shape, nothing more. Public API types live in `graphql/`.

pub mod plan;
