//! The public GraphQL types. They mirror the domain types but are their own: a column added to
//! the database does not become API by accident.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, Enum, ID, InputObject, Object, OutputType, Positioned, ServerResult, Value,
};
use chrono::{DateTime, Utc};

use crate::plans::{self, PlanList};

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

/// An internet plan an operator sells. (Shared with the cache's lists: resolving one copies
/// nothing.)
pub struct Plan(pub Arc<plans::Plan>);

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

/// A list of plans, as `[Plan!]!`, resolved one plan after the other.
///
/// async-graphql resolves a `Vec` by creating one future per item up front and polling them
/// together; with the 20,000-plan list that holds 20,000 futures (and a clone of each plan) at
/// once, tens of MB, for fields that never wait on anything. Same type, same output, a fraction
/// of the memory and time.
pub struct PlanItems(pub PlanList);

impl OutputType for PlanItems {
    fn type_name() -> Cow<'static, str> {
        <Vec<Plan> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<Plan> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<Plan> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let mut values = Vec::with_capacity(self.0.len());
        for (index, plan) in self.0.iter().enumerate() {
            let ctx_index = ctx.with_index(index);
            let value = OutputType::resolve(&Plan(plan.clone()), &ctx_index, field)
                .await
                .map_err(|err| ctx_index.set_error_path(err))?;
            values.push(value);
        }
        Ok(Value::List(values))
    }
}

/// A plan to create.
#[derive(InputObject, Debug)]
pub struct CreatePlanInput {
    /// The owning operator; at least 1. Required for the admin; an operator may leave it out (its own id).
    pub user_id: Option<i32>,
    /// 1 to 100 characters after trimming.
    pub name: String,
    pub connection_type: ConnectionType,
    /// Price in minor currency units; not negative.
    pub price_cents: i32,
    /// 1 to 527040 (one year).
    pub duration_minutes: i32,
}

impl From<CreatePlanInput> for plans::PlanDraft {
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

/// Changes to a plan: at least one field; each follows the same rule as in `CreatePlanInput`.
/// A field left out (or null) stays as it is.
#[derive(InputObject, Debug)]
pub struct UpdatePlanInput {
    /// Moves the plan to another operator (admin only); at least 1.
    pub user_id: Option<i32>,
    /// 1 to 100 characters after trimming.
    pub name: Option<String>,
    pub connection_type: Option<ConnectionType>,
    /// Price in minor currency units; not negative.
    pub price_cents: Option<i32>,
    /// 1 to 527040 (one year).
    pub duration_minutes: Option<i32>,
}

impl From<UpdatePlanInput> for plans::PlanChanges {
    fn from(input: UpdatePlanInput) -> Self {
        Self {
            user_id: input.user_id,
            name: input.name,
            connection_type: input.connection_type.map(Into::into),
            price_cents: input.price_cents,
            duration_minutes: input.duration_minutes,
        }
    }
}
