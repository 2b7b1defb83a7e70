//! Input rules of the contract, checked before anything touches the database.

use super::{NewPlan, PlanChanges, PlanFilter, PlanId};

pub const MAX_NAME_CHARS: usize = 100;
/// One year (366 days) in minutes.
pub const MAX_DURATION_MINUTES: i32 = 527_040;

/// Why an input was refused: the argument at fault and a message safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> InvalidInput {
    InvalidInput {
        field,
        message: message.into(),
    }
}

pub(super) fn check_user_id(field: &'static str, user_id: i32) -> Result<(), InvalidInput> {
    if user_id < 1 {
        return Err(invalid(field, format!("must be at least 1, got {user_id}")));
    }
    Ok(())
}

pub(super) fn check_filter(filter: &PlanFilter) -> Result<(), InvalidInput> {
    filter
        .user_id
        .map_or(Ok(()), |user_id| check_user_id("userId", user_id))
}

/// A page size (`first`, `last`): 1 to `max`.
pub(super) fn check_page_size(
    field: &'static str,
    size: i32,
    max: i32,
) -> Result<(), InvalidInput> {
    if !(1..=max).contains(&size) {
        return Err(invalid(
            field,
            format!("must be between 1 and {max}, got {size}"),
        ));
    }
    Ok(())
}

/// Parses a GraphQL `ID` into a plan id: a positive decimal integer.
pub fn parse_plan_id(raw: &str) -> Result<PlanId, InvalidInput> {
    match raw.parse::<PlanId>() {
        Ok(id) if id >= 1 => Ok(id),
        _ => Err(invalid("id", "must be a positive integer plan id")),
    }
}

/// Checks a new plan and returns it normalised (name trimmed).
pub(super) fn check_new_plan(plan: NewPlan) -> Result<NewPlan, InvalidInput> {
    check_user_id("input.userId", plan.user_id)?;
    let name = check_name(&plan.name)?.to_owned();
    check_price(plan.price_cents)?;
    check_duration(plan.duration_minutes)?;
    Ok(NewPlan { name, ..plan })
}

/// Checks an update's changes, each given field by the same rule as a new plan's, and returns
/// them normalised (name trimmed). Changing nothing is refused too.
pub(super) fn check_changes(changes: PlanChanges) -> Result<PlanChanges, InvalidInput> {
    if changes.is_empty() {
        return Err(invalid("input", "must change at least one field"));
    }
    if let Some(user_id) = changes.user_id {
        check_user_id("input.userId", user_id)?;
    }
    let name = changes
        .name
        .as_deref()
        .map(check_name)
        .transpose()?
        .map(str::to_owned);
    if let Some(price_cents) = changes.price_cents {
        check_price(price_cents)?;
    }
    if let Some(duration_minutes) = changes.duration_minutes {
        check_duration(duration_minutes)?;
    }
    Ok(PlanChanges { name, ..changes })
}

/// A name is 1 to 100 characters after trimming, without control characters; returns it trimmed.
fn check_name(name: &str) -> Result<&str, InvalidInput> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("input.name", "must not be empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(invalid(
            "input.name",
            format!("must be at most {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("input.name", "must not contain control characters"));
    }
    Ok(name)
}

fn check_price(price_cents: i32) -> Result<(), InvalidInput> {
    if price_cents < 0 {
        return Err(invalid(
            "input.priceCents",
            format!("must not be negative, got {price_cents}"),
        ));
    }
    Ok(())
}

fn check_duration(duration_minutes: i32) -> Result<(), InvalidInput> {
    if !(1..=MAX_DURATION_MINUTES).contains(&duration_minutes) {
        return Err(invalid(
            "input.durationMinutes",
            format!("must be between 1 and {MAX_DURATION_MINUTES}, got {duration_minutes}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::ConnectionType;

    fn plan() -> NewPlan {
        NewPlan {
            user_id: 1,
            name: "  1 Hour Unlimited ".into(),
            connection_type: ConnectionType::Hotspot,
            price_cents: 1000,
            duration_minutes: 60,
        }
    }

    fn field_of(plan: NewPlan) -> &'static str {
        check_new_plan(plan).unwrap_err().field
    }

    #[test]
    fn accepts_and_trims_a_valid_plan() {
        assert_eq!(check_new_plan(plan()).unwrap().name, "1 Hour Unlimited");
        let edge = NewPlan {
            name: "x".repeat(MAX_NAME_CHARS),
            price_cents: 0,
            duration_minutes: MAX_DURATION_MINUTES,
            ..plan()
        };
        assert!(check_new_plan(edge).is_ok());
    }

    #[test]
    fn refuses_each_bad_field() {
        let name = |name: &str| NewPlan {
            name: name.into(),
            ..plan()
        };
        assert_eq!(field_of(name("   ")), "input.name");
        assert_eq!(
            field_of(name(&"é".repeat(MAX_NAME_CHARS + 1))),
            "input.name"
        );
        assert_eq!(field_of(name("a\u{0}b")), "input.name");
        let with = |f: fn(&mut NewPlan)| {
            let mut plan = plan();
            f(&mut plan);
            plan
        };
        assert_eq!(field_of(with(|p| p.user_id = 0)), "input.userId");
        assert_eq!(field_of(with(|p| p.price_cents = -1)), "input.priceCents");
        assert_eq!(
            field_of(with(|p| p.duration_minutes = 0)),
            "input.durationMinutes"
        );
        assert_eq!(
            field_of(with(|p| p.duration_minutes = MAX_DURATION_MINUTES + 1)),
            "input.durationMinutes"
        );
    }

    #[test]
    fn changes_are_checked_field_by_field_and_must_not_be_empty() {
        let field = |changes: PlanChanges| check_changes(changes).unwrap_err().field;
        assert_eq!(field(PlanChanges::default()), "input");
        let name = check_changes(PlanChanges {
            name: Some(" Day ".into()),
            ..PlanChanges::default()
        });
        assert_eq!(name.unwrap().name.as_deref(), Some("Day"));
        let changes = |f: fn(&mut PlanChanges)| {
            let mut changes = PlanChanges {
                price_cents: Some(0),
                ..PlanChanges::default()
            };
            f(&mut changes);
            changes
        };
        assert_eq!(field(changes(|c| c.user_id = Some(0))), "input.userId");
        assert_eq!(field(changes(|c| c.name = Some(" ".into()))), "input.name");
        assert_eq!(
            field(changes(|c| c.price_cents = Some(-1))),
            "input.priceCents"
        );
        assert_eq!(
            field(changes(|c| c.duration_minutes = Some(0))),
            "input.durationMinutes"
        );
    }

    #[test]
    fn a_name_of_100_characters_counts_characters_not_bytes() {
        let name = "ü".repeat(MAX_NAME_CHARS);
        assert!(check_new_plan(NewPlan { name, ..plan() }).is_ok());
    }

    #[test]
    fn plan_ids_are_positive_integers() {
        assert_eq!(parse_plan_id("42"), Ok(42));
        for bad in ["", "0", "-3", "abc", "1.5", "99999999999", " 4"] {
            assert!(parse_plan_id(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
