use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::ConnectionType;
use crate::entities::plan;

pub type PlanId = i32;

/// A plan as the rest of the application sees it (the entity's columns are not public API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    pub user_id: i32,
    pub name: String,
    pub connection_type: ConnectionType,
    pub price_cents: i32,
    pub duration_minutes: i32,
    pub created_at: DateTime<Utc>,
}

/// A list of plans ordered by id; shared, so a cache hit costs a reference count. Each plan is
/// shared too: it sits in four lists (see [`super::PlanKey::affected_by`]), stored once.
pub type PlanList = Arc<[Arc<Plan>]>;

impl From<plan::Model> for Plan {
    fn from(model: plan::Model) -> Self {
        Self {
            id: model.id,
            user_id: model.user_id,
            name: model.name,
            connection_type: model.connection_type,
            price_cents: model.price_cents,
            duration_minutes: model.duration_minutes,
            created_at: model.created_at,
        }
    }
}

/// Which plans a list holds; both filters are AND-ed, `None` means "any".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PlanFilter {
    pub user_id: Option<i32>,
    pub connection_type: Option<ConnectionType>,
}

impl PlanFilter {
    pub fn matches(&self, plan: &Plan) -> bool {
        self.user_id.is_none_or(|user_id| plan.user_id == user_id)
            && self
                .connection_type
                .is_none_or(|connection_type| plan.connection_type == connection_type)
    }
}

/// A plan to create, as received; [`super::validation`] checks it before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    pub user_id: i32,
    pub name: String,
    pub connection_type: ConnectionType,
    pub price_cents: i32,
    pub duration_minutes: i32,
}
