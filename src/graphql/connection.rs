//! `plansConnection`'s types, as the Relay cursor connections specification names them, and its
//! cursors: opaque strings (base64 of `plan:<id>`) that position a page by plan id.

use std::sync::Arc;

use async_graphql::{Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::types::Plan;
use crate::plans::{self, InvalidInput, PlanId};

const CURSOR_PREFIX: &str = "plan:";

/// The cursor of the plan with `id`.
pub(super) fn encode_cursor(id: PlanId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

/// The plan id a cursor positions at (the plan need not exist any more); `field` names the
/// argument in the error.
pub(super) fn decode_cursor(field: &'static str, cursor: &str) -> Result<PlanId, InvalidInput> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX)?.parse::<PlanId>().ok())
        .filter(|id| *id >= 1)
        .ok_or_else(|| InvalidInput {
            field,
            message: "is not a cursor this API gave out".to_owned(),
        })
}

/// A page of plans.
pub struct PlanConnection(pub plans::Page);

#[Object]
impl PlanConnection {
    /// The plans of this page with their cursors.
    #[graphql(complexity = "child_complexity")]
    async fn edges(&self) -> Vec<PlanEdge> {
        self.0
            .plans
            .iter()
            .map(|plan| PlanEdge(plan.clone()))
            .collect()
    }

    /// The plans of this page (as in `edges`, without cursors).
    #[graphql(complexity = "child_complexity")]
    async fn nodes(&self) -> Vec<Plan> {
        self.0.plans.iter().map(|plan| Plan(plan.clone())).collect()
    }

    #[graphql(complexity = 0)]
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.0.has_next_page,
            has_previous_page: self.0.has_previous_page,
            start_cursor: self.0.plans.first().map(|plan| encode_cursor(plan.id)),
            end_cursor: self.0.plans.last().map(|plan| encode_cursor(plan.id)),
        }
    }

    /// How many plans the whole list holds (every page).
    #[graphql(complexity = 0)]
    async fn total_count(&self) -> i32 {
        i32::try_from(self.0.total_count).unwrap_or(i32::MAX)
    }
}

/// A plan and its cursor.
pub struct PlanEdge(Arc<plans::Plan>);

#[Object]
impl PlanEdge {
    /// Where this plan is: `after` it pages on, `before` it pages back.
    async fn cursor(&self) -> String {
        encode_cursor(self.0.id)
    }

    #[graphql(complexity = "child_complexity")]
    async fn node(&self) -> Plan {
        Plan(self.0.clone())
    }
}

/// Where a page is in its list: whether plans follow or precede it, and its first and last cursors (null when empty).
#[derive(SimpleObject)]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        for id in [1, 42, PlanId::MAX] {
            assert_eq!(decode_cursor("after", &encode_cursor(id)), Ok(id));
        }
        let made = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for bad in [
            String::new(),
            "42".to_owned(),
            "not base64!".to_owned(),
            made("plan:"),
            made("plan:0"),
            made("plan:-1"),
            made("plan:1x"),
            made("user:1"),
            made("plan:99999999999"),
        ] {
            let refused = decode_cursor("before", &bad).unwrap_err();
            assert_eq!(refused.field, "before", "{bad:?}");
        }
    }
}
