//! Pages of a plan list, as Relay cursor connections cut them: a page is a window of the list
//! (ordered by id), positioned by plan ids, so it is cut from the cached list with two binary
//! searches and stays well defined when the plans around it (or the one a cursor names) are
//! created or deleted.

use std::sync::Arc;

use super::validation::{self, InvalidInput};
use super::{Plan, PlanId, PlanList};

/// Largest `first`/`last`.
pub const MAX_PAGE_SIZE: i32 = 100;
/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: i32 = 50;

/// Which page to cut, as the client asked: `first` plans after the plan with id `after`, or the
/// `last` plans before the plan with id `before` (a cursor's plan need not exist any more: the
/// page starts after, or ends before, where it was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub first: Option<i32>,
    pub after: Option<PlanId>,
    pub last: Option<i32>,
    pub before: Option<PlanId>,
}

/// How many plans from which end, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    First(usize),
    Last(usize),
}

impl PageRequest {
    /// `first` or `last` must be within 1..=100 and not both be given; neither means
    /// `first: 50`.
    fn size(&self) -> Result<Size, InvalidInput> {
        let checked = |field: &'static str, size: i32| {
            validation::check_page_size(field, size, MAX_PAGE_SIZE).map(|()| size as usize)
        };
        match (self.first, self.last) {
            (Some(_), Some(_)) => Err(validation::invalid(
                "last",
                "give either first or last, not both",
            )),
            (Some(first), None) => checked("first", first).map(Size::First),
            (None, Some(last)) => checked("last", last).map(Size::Last),
            (None, None) => Ok(Size::First(DEFAULT_PAGE_SIZE as usize)),
        }
    }

    /// Whether the request is valid (see [`PageRequest::cut`]), checked before any list is read.
    pub fn check(&self) -> Result<(), InvalidInput> {
        self.size().map(drop)
    }

    /// How many plans a page asks for at most (for complexity limits; an invalid request is
    /// refused before it is cut, so any bound will do for it).
    pub(crate) fn requested_size(first: Option<i32>, last: Option<i32>) -> usize {
        let size = match (first, last) {
            (None, None) => DEFAULT_PAGE_SIZE,
            (first, last) => first.unwrap_or(0).max(last.unwrap_or(0)),
        };
        size.clamp(1, MAX_PAGE_SIZE) as usize
    }

    /// Cuts the page out of `list` (ordered by id ascending), following the Relay cursor
    /// connections specification: the cursors narrow the list, then `first` keeps its head or
    /// `last` its tail.
    pub fn cut(&self, list: &PlanList) -> Result<Page, InvalidInput> {
        let size = self.size()?;
        // Everything after `after` and before `before`, by id: two binary searches.
        let start = self
            .after
            .map_or(0, |after| list.partition_point(|plan| plan.id <= after));
        let end = self
            .before
            .map_or(list.len(), |before| {
                list.partition_point(|plan| plan.id < before)
            })
            .max(start);
        let (from, to, trimmed) = match size {
            Size::First(first) => (start, end.min(start + first), end - start > first),
            Size::Last(last) => (end.saturating_sub(last).max(start), end, end - start > last),
        };
        let (first, last) = (
            matches!(size, Size::First(_)),
            matches!(size, Size::Last(_)),
        );
        Ok(Page {
            plans: list[from..to].to_vec(),
            // Relay: `last` that cut plans off the front, or plans before `after`; and the same
            // for the other end.
            has_previous_page: (last && trimmed) || (self.after.is_some() && start > 0),
            has_next_page: (first && trimmed) || (self.before.is_some() && end < list.len()),
            total_count: list.len(),
        })
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub plans: Vec<Arc<Plan>>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
    /// How many plans the whole list holds.
    pub total_count: usize,
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::plans::ConnectionType;

    fn list(ids: &[PlanId]) -> PlanList {
        ids.iter()
            .map(|&id| {
                Arc::new(Plan {
                    id,
                    user_id: 1,
                    name: format!("p{id}"),
                    connection_type: ConnectionType::Hotspot,
                    price_cents: 1,
                    duration_minutes: 1,
                    created_at: DateTime::UNIX_EPOCH,
                })
            })
            .collect()
    }

    /// (ids, hasPreviousPage, hasNextPage)
    fn cut(ids: &[PlanId], request: PageRequest) -> (Vec<PlanId>, bool, bool) {
        let page = request.cut(&list(ids)).unwrap();
        assert_eq!(page.total_count, ids.len());
        (
            page.plans.iter().map(|plan| plan.id).collect(),
            page.has_previous_page,
            page.has_next_page,
        )
    }

    const IDS: [PlanId; 5] = [2, 4, 6, 8, 10];

    fn first(first: i32, after: Option<PlanId>) -> PageRequest {
        PageRequest {
            first: Some(first),
            after,
            ..PageRequest::default()
        }
    }

    fn last(last: i32, before: Option<PlanId>) -> PageRequest {
        PageRequest {
            last: Some(last),
            before,
            ..PageRequest::default()
        }
    }

    #[test]
    fn pages_forward() {
        assert_eq!(cut(&IDS, first(2, None)), (vec![2, 4], false, true));
        assert_eq!(cut(&IDS, first(2, Some(4))), (vec![6, 8], true, true));
        assert_eq!(cut(&IDS, first(2, Some(8))), (vec![10], true, false));
        assert_eq!(cut(&IDS, first(2, Some(10))), (vec![], true, false));
        assert_eq!(
            cut(&IDS, first(5, None)),
            (vec![2, 4, 6, 8, 10], false, false)
        );
        assert_eq!(cut(&[], first(5, None)), (vec![], false, false));
    }

    #[test]
    fn pages_backward() {
        assert_eq!(cut(&IDS, last(2, None)), (vec![8, 10], true, false));
        assert_eq!(cut(&IDS, last(2, Some(8))), (vec![4, 6], true, true));
        assert_eq!(cut(&IDS, last(2, Some(4))), (vec![2], false, true));
        assert_eq!(cut(&IDS, last(2, Some(2))), (vec![], false, true));
        assert_eq!(
            cut(&IDS, last(9, None)),
            (vec![2, 4, 6, 8, 10], false, false)
        );
    }

    #[test]
    fn a_cursor_whose_plan_is_gone_still_positions_the_page() {
        // Plan 5 never existed or was deleted: after it come 6, 8; before it come 2, 4.
        assert_eq!(cut(&IDS, first(2, Some(5))), (vec![6, 8], true, true));
        assert_eq!(cut(&IDS, last(5, Some(5))), (vec![2, 4], false, true));
        // Both cursors: the window between them.
        let between = PageRequest {
            first: Some(10),
            after: Some(3),
            before: Some(9),
            ..PageRequest::default()
        };
        assert_eq!(cut(&IDS, between), (vec![4, 6, 8], true, true));
        let crossed = PageRequest {
            after: Some(8),
            before: Some(4),
            ..PageRequest::default()
        };
        assert_eq!(cut(&IDS, crossed), (vec![], true, true));
    }

    #[test]
    fn sizes_are_checked() {
        let all: Vec<PlanId> = (1..=120).collect();
        assert_eq!(cut(&all, PageRequest::default()).0.len(), 50);
        assert_eq!(cut(&all, first(100, None)).0.len(), 100);
        for bad in [
            first(0, None),
            first(101, None),
            last(0, None),
            last(-1, None),
        ] {
            assert!(bad.cut(&list(&all)).is_err(), "{bad:?}");
        }
        let both = PageRequest {
            first: Some(1),
            last: Some(1),
            ..PageRequest::default()
        };
        assert!(both.cut(&list(&all)).is_err());
        assert_eq!(PageRequest::requested_size(None, None), 50);
        assert_eq!(PageRequest::requested_size(Some(7), None), 7);
        assert_eq!(PageRequest::requested_size(None, Some(1_000)), 100);
    }
}
