//! The plans domain: what a plan is, the `plans*` cache keyspace, input validation, the database
//! queries, and [`PlanService`], the one owner of plan reads, writes and cache invalidation.
//! Knows nothing of GraphQL or HTTP.

pub mod change_feed;
pub mod consistency;
mod demo;
mod error;
mod invalidation;
mod key;
mod live;
mod model;
mod page;
mod reads;
mod repo;
mod service;
mod validation;

pub use crate::entities::plan::ConnectionType;
pub use consistency::{
    Consistency, ConsistencyMetrics, ConsistencySettings, ConsistencyToken, Freshness, Outcome,
    TokenError,
};
pub use demo::demo_plans;
pub use error::PlanError;
pub use key::PlanKey;
pub use live::{LiveEvent, LiveList, LiveMetrics, LiveSettings, Renderings};
pub use model::{
    Actor, NewPlan, Plan, PlanChanges, PlanDraft, PlanFilter, PlanId, PlanList, PlanOwner,
};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use reads::{PlanRead, Served};
pub use service::{PlanService, WarmUpReport};
pub(crate) use validation::parse_plan_id;
pub use validation::{InvalidInput, MAX_DURATION_MINUTES, MAX_NAME_CHARS};
