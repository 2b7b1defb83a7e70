//! The plans domain's own types: [`Plan`] (not the entity: its columns are not public API), the
//! inputs of writes ([`NewPlan`], [`PlanDraft`], [`PlanChanges`]), filters, owners and actors.

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

impl Plan {
    /// Whose lists this plan is in.
    pub fn owner(&self) -> PlanOwner {
        PlanOwner {
            user_id: self.user_id,
            connection_type: self.connection_type,
        }
    }
}

/// Whose lists a plan belongs to: enough to know which keys a change to it affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOwner {
    pub user_id: i32,
    pub connection_type: ConnectionType,
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

/// Who is changing plans: the admin (every operator's), or one operator (its own only). The
/// ownership rules live in [`super::PlanService`]; who holds which credential is not this
/// module's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Admin,
    Operator(i32),
}

/// A plan to create whose owner may be left out: an operator's plan is its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDraft {
    pub user_id: Option<i32>,
    pub name: String,
    pub connection_type: ConnectionType,
    pub price_cents: i32,
    pub duration_minutes: i32,
}

impl PlanDraft {
    /// The draft as a new plan of `user_id`.
    pub(crate) fn owned_by(self, user_id: i32) -> NewPlan {
        NewPlan {
            user_id,
            name: self.name,
            connection_type: self.connection_type,
            price_cents: self.price_cents,
            duration_minutes: self.duration_minutes,
        }
    }
}

/// The changes an update makes to a plan: every field is optional, and at least one must be
/// given. [`super::validation`] checks the given fields by the same rules as a new plan's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanChanges {
    /// Moves the plan to another operator.
    pub user_id: Option<i32>,
    pub name: Option<String>,
    pub connection_type: Option<ConnectionType>,
    pub price_cents: Option<i32>,
    pub duration_minutes: Option<i32>,
}

impl PlanChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether these changes can move the plan to other keys (another owner or type).
    pub(crate) fn can_move(&self) -> bool {
        self.user_id.is_some() || self.connection_type.is_some()
    }

    /// `plan` with these changes made (its id and creation time unchanged).
    pub fn applied_to(&self, plan: &Plan) -> Plan {
        Plan {
            id: plan.id,
            user_id: self.user_id.unwrap_or(plan.user_id),
            name: self.name.clone().unwrap_or_else(|| plan.name.clone()),
            connection_type: self.connection_type.unwrap_or(plan.connection_type),
            price_cents: self.price_cents.unwrap_or(plan.price_cents),
            duration_minutes: self.duration_minutes.unwrap_or(plan.duration_minutes),
            created_at: plan.created_at,
        }
    }
}
