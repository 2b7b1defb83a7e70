//! The public GraphQL types. They mirror the domain types but are their own: a column added to
//! the database does not become API by accident.

use async_graphql::{Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use crate::plans;

/// How a plan is delivered.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    Hotspot,
    Pppoe,
    Static,
}

impl From<ConnectionType> for plans::ConnectionType {
    fn from(value: ConnectionType) -> Self {
        match value {
            ConnectionType::Hotspot => Self::Hotspot,
            ConnectionType::Pppoe => Self::Pppoe,
            ConnectionType::Static => Self::Static,
        }
    }
}

impl From<plans::ConnectionType> for ConnectionType {
    fn from(value: plans::ConnectionType) -> Self {
        match value {
            plans::ConnectionType::Hotspot => Self::Hotspot,
            plans::ConnectionType::Pppoe => Self::Pppoe,
            plans::ConnectionType::Static => Self::Static,
        }
    }
}

/// An internet plan an operator sells.
pub struct Plan(pub plans::Plan);

#[Object]
impl Plan {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The operator who owns the plan.
    async fn user_id(&self) -> i32 {
        self.0.user_id
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn connection_type(&self) -> ConnectionType {
        self.0.connection_type.into()
    }

    /// Price in minor currency units (cents): never a float.
    async fn price_cents(&self) -> i32 {
        self.0.price_cents
    }

    /// How long a purchase of this plan lasts.
    async fn duration_minutes(&self) -> i32 {
        self.0.duration_minutes
    }

    /// When the plan was created (RFC 3339, UTC).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A plan to create.
#[derive(InputObject, Debug)]
pub struct CreatePlanInput {
    /// The owning operator; at least 1.
    pub user_id: i32,
    /// 1 to 100 characters after trimming.
    pub name: String,
    pub connection_type: ConnectionType,
    /// Price in minor currency units; not negative.
    pub price_cents: i32,
    /// 1 to 527040 (one year).
    pub duration_minutes: i32,
}

impl From<CreatePlanInput> for plans::NewPlan {
    fn from(input: CreatePlanInput) -> Self {
        Self {
            user_id: input.user_id,
            name: input.name,
            connection_type: input.connection_type.into(),
            price_cents: input.price_cents,
            duration_minutes: input.duration_minutes,
        }
    }
}
