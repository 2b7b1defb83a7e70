//! Running a sequence of operations on the system and the model in lockstep: every read is
//! checked against the model's prediction, value and counters both.

use std::time::Instant;

use plans_api::plans::{
    NewPlan, PageRequest, Plan, PlanChanges, PlanError, PlanFilter, PlanId, PlanKey,
};
use proptest::test_runner::TestCaseError;

use crate::SLACK;
use crate::TTL;
use crate::model::{Model, Prediction, Snapshot, Window, owner};
use crate::ops::{Op, SqlChange};
use crate::system::{Counts, System};

/// Runs `ops` against a fresh service and the model; the first divergence is the error.
pub async fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let system = System::start().await;
    let mut model = Model::default();
    let result = run_on(&system, &mut model, ops).await;
    system.db.close().await.ok();
    result
}

async fn run_on(system: &System, model: &mut Model, ops: &[Op]) -> Result<(), TestCaseError> {
    for (step, op) in ops.iter().enumerate() {
        let before = system.counts();
        step_once(system, model, *op, before)
            .await
            .map_err(|why| TestCaseError::fail(format!("step {step} ({op:?}): {why}")))?;
        // Nothing but reads moves the counters, and reads checked their own deltas.
        if !matches!(op, Op::List(..) | Op::Get(_) | Op::Page { .. }) {
            let after = system.counts();
            if after != before {
                return Err(TestCaseError::fail(format!(
                    "step {step} ({op:?}): counters moved from {before:?} to {after:?}"
                )));
            }
        }
    }
    Ok(())
}

async fn step_once(
    system: &System,
    model: &mut Model,
    op: Op,
    before: Counts,
) -> Result<(), String> {
    let service = &system.service;
    match op {
        Op::List(user_id, connection_type) => {
            let filter = PlanFilter {
                user_id,
                connection_type,
            };
            if user_id == Some(0) {
                return match system.list(filter).await {
                    Err(PlanError::InvalidInput(_)) if system.counts() == before => Ok(()),
                    other => Err(format!("expected invalid input and no read, got {other:?}")),
                };
            }
            read(system, model, filter, before).await.map(drop)
        }
        Op::Get(pick) => {
            let id = model.id_of(pick);
            let (got, expected) = if model.suspended {
                // Reads go straight to the database, without the cache or its counters.
                let got = system.get(id).await.map_err(|err| err.to_string())?;
                if system.counts() != before {
                    return Err("a read while suspended moved the cache counters".to_owned());
                }
                (got, model.truth.get(&id).cloned())
            } else {
                let start = Instant::now();
                let got = system.get(id).await.map_err(|err| err.to_string())?;
                let served =
                    check_read(system, model, PlanFilter::default(), (start, before), None)?;
                (got, served.into_iter().find(|plan| plan.id == id))
            };
            if got == expected {
                Ok(())
            } else {
                Err(format!("get({id}) = {got:?}, expected {expected:?}"))
            }
        }
        Op::Create { user, kind, valid } => {
            let new = NewPlan {
                user_id: user,
                name: if valid { "1 Hour Unlimited" } else { "   " }.to_owned(),
                connection_type: kind,
                price_cents: 1000,
                duration_minutes: 60,
            };
            match (service.create(new).await, valid) {
                (Ok(plan), true) => {
                    if plan.user_id != user
                        || plan.connection_type != kind
                        || model.truth.contains_key(&plan.id)
                    {
                        return Err(format!("create returned {plan:?}"));
                    }
                    model.drop_keys_of(owner(&plan));
                    model.truth.insert(plan.id, plan);
                    Ok(())
                }
                (Err(PlanError::InvalidInput(_)), false) => Ok(()),
                (other, valid) => Err(format!("create (valid: {valid}) returned {other:?}")),
            }
        }
        Op::Delete(pick) => {
            let id = model.id_of(pick);
            let deleted = service.delete(id).await.map_err(|err| err.to_string())?;
            match model.truth.remove(&id) {
                Some(plan) if deleted => {
                    model.drop_keys_of(owner(&plan));
                    Ok(())
                }
                None if !deleted => Ok(()),
                expected => Err(format!(
                    "delete({id}) = {deleted}, but the plan was {expected:?}"
                )),
            }
        }
        Op::Update {
            pick,
            user,
            kind,
            valid,
        } => {
            let id = model.id_of(pick);
            let changes = PlanChanges {
                user_id: user,
                connection_type: kind,
                price_cents: valid.then_some(4_200),
                name: (!valid).then(|| "   ".to_owned()),
                ..PlanChanges::default()
            };
            let result = service.update(id, changes.clone()).await;
            let before = model.truth.get(&id).cloned();
            match (result, before, valid) {
                (Err(PlanError::InvalidInput(_)), _, false) => Ok(()),
                (Ok(None), None, true) => Ok(()),
                (Ok(Some(after)), Some(before), true) => {
                    if after != changes.applied_to(&before) {
                        return Err(format!("update of {before:?} returned {after:?}"));
                    }
                    // The keys before and after the change, also when the plan moved.
                    model.drop_keys_of(owner(&before));
                    model.drop_keys_of(owner(&after));
                    model.truth.insert(id, after);
                    Ok(())
                }
                (other, before, valid) => Err(format!(
                    "update({id}, valid: {valid}) of {before:?} returned {other:?}"
                )),
            }
        }
        Op::Page {
            user,
            kind,
            size,
            cursor,
            backward,
        } => {
            let filter = PlanFilter {
                user_id: user,
                connection_type: kind,
            };
            let request = if backward {
                PageRequest {
                    last: Some(size),
                    before: cursor,
                    ..PageRequest::default()
                }
            } else {
                PageRequest {
                    first: Some(size),
                    after: cursor,
                    ..PageRequest::default()
                }
            };
            let start = Instant::now();
            let got = system
                .page(filter, request)
                .await
                .map_err(|err| err.to_string())?;
            let served = check_read(system, model, filter, (start, before), None)?;
            let expected = reference_page(&served, request);
            let got = (
                ids(&got
                    .plans
                    .iter()
                    .map(|plan| plan.as_ref().clone())
                    .collect::<Vec<_>>()),
                got.has_previous_page,
                got.has_next_page,
                got.total_count,
            );
            if got == expected {
                Ok(())
            } else {
                Err(format!(
                    "{request:?} of {:?}: got {got:?}, expected {expected:?}",
                    ids(&served)
                ))
            }
        }
        Op::Sql { change, announce } => {
            let (before, after) = match change {
                SqlChange::Insert(user, kind) => {
                    let plan = system.sql_insert(user, kind).await;
                    let after = owner(&plan);
                    model.truth.insert(plan.id, plan);
                    (None, Some(after))
                }
                SqlChange::Delete(n) => {
                    let Some(plan) = model.existing(n) else {
                        return Ok(());
                    };
                    system.sql_delete(plan.id).await;
                    model.truth.remove(&plan.id);
                    (Some(owner(&plan)), None)
                }
                SqlChange::Update(n, user, kind) => {
                    let Some(plan) = model.existing(n) else {
                        return Ok(());
                    };
                    let updated = system.sql_update(plan.id, user, kind).await;
                    let after = owner(&updated);
                    model.truth.insert(updated.id, updated);
                    (Some(owner(&plan)), Some(after))
                }
            };
            if announce {
                service.apply_external_change(before, after).await;
                for owner in before.into_iter().chain(after) {
                    model.drop_keys_of(owner);
                }
            }
            Ok(())
        }
        Op::Expire => {
            tokio::time::sleep(TTL + 2 * SLACK).await;
            Ok(())
        }
        Op::InvalidateAll => {
            service.invalidate_all().await;
            model.cache.clear();
            Ok(())
        }
        Op::WarmUp => {
            let start = Instant::now();
            let report = service
                .warm_up(10_000)
                .await
                .map_err(|err| err.to_string())?;
            let filled = Window {
                start,
                end: Instant::now(),
            };
            let keys = model.warm_keys();
            if report.plans != model.truth.len() || report.keys != keys.len() {
                return Err(format!(
                    "warm-up reported {report:?}, expected {} plans and {} keys",
                    model.truth.len(),
                    keys.len()
                ));
            }
            for key in keys {
                let plans = model.select(key.filter());
                model.cache.insert(key, Snapshot { plans, filled });
            }
            Ok(())
        }
        Op::Suspend => {
            service.suspend_caching();
            model.suspended = true;
            Ok(())
        }
        Op::Resume => {
            service.resume_caching().await;
            model.cache.clear();
            model.suspended = false;
            Ok(())
        }
    }
}

/// `list(filter)`, checked against the model.
async fn read(
    system: &System,
    model: &mut Model,
    filter: PlanFilter,
    before: Counts,
) -> Result<Vec<Plan>, String> {
    let start = Instant::now();
    let got = system.list(filter).await.map_err(|err| err.to_string())?;
    check_read(system, model, filter, (start, before), Some(got))
}

/// Checks a read of `filter` that started at `start` with the counters at `before` and returned
/// `got` (`None`: the caller checks the value itself, as `get` does), and the counters it moved.
/// Returns what the model says was served, and updates the model.
fn check_read(
    system: &System,
    model: &mut Model,
    filter: PlanFilter,
    (start, before): (Instant, Counts),
    got: Option<Vec<Plan>>,
) -> Result<Vec<Plan>, String> {
    let now = Window {
        start,
        end: Instant::now(),
    };
    let key = PlanKey::for_filter(filter);
    let fresh = model.select(filter);
    let after = system.counts();
    let hit = after.hits > before.hits;
    let served = if model.suspended {
        fresh
    } else {
        match (model.predict(&key, now), hit) {
            (Prediction::Hit(cached) | Prediction::HitOrMiss(cached), true) => cached,
            (Prediction::Miss | Prediction::HitOrMiss(_), false) => {
                model.cache.insert(
                    key,
                    Snapshot {
                        plans: fresh.clone(),
                        filled: now,
                    },
                );
                fresh
            }
            (Prediction::Hit(_), false) => {
                return Err(format!("{key}: expected a cache hit, got a miss"));
            }
            (Prediction::Miss, true) => {
                return Err(format!("{key}: expected a cache miss, got a hit"));
            }
        }
    };
    // A hit moves only the hit counter; a miss (also every read while suspended) one miss and
    // exactly one database load.
    let expected = if hit && !model.suspended {
        Counts {
            hits: before.hits + 1,
            ..before
        }
    } else {
        Counts {
            hits: before.hits,
            misses: before.misses + 1,
            loads: before.loads + 1,
        }
    };
    if after != expected {
        return Err(format!(
            "{key}: counters went from {before:?} to {after:?}, expected {expected:?}"
        ));
    }
    if let Some(got) = got
        && got != served
    {
        return Err(format!(
            "{key}: served ids {:?}, expected {:?} (database holds {:?})",
            ids(&got),
            ids(&served),
            ids(&model.select(filter))
        ));
    }
    Ok(served)
}

/// The page the Relay specification describes, computed the obvious way (filter, then take):
/// (ids, hasPreviousPage, hasNextPage, totalCount).
fn reference_page(list: &[Plan], request: PageRequest) -> (Vec<PlanId>, bool, bool, usize) {
    let edges: Vec<PlanId> = ids(list)
        .into_iter()
        .filter(|id| request.after.is_none_or(|after| *id > after))
        .filter(|id| request.before.is_none_or(|before| *id < before))
        .collect();
    let (page, trimmed) = match (request.first, request.last) {
        (Some(first), None) => {
            let first = first as usize;
            (
                edges.iter().copied().take(first).collect(),
                edges.len() > first,
            )
        }
        (None, Some(last)) => {
            let last = last as usize;
            let skip = edges.len().saturating_sub(last);
            (
                edges.iter().copied().skip(skip).collect(),
                edges.len() > last,
            )
        }
        _ => unreachable!("the model asks for first or last"),
    };
    let before_after = request
        .after
        .is_some_and(|after| list.iter().any(|plan| plan.id <= after));
    let after_before = request
        .before
        .is_some_and(|before| list.iter().any(|plan| plan.id >= before));
    (
        page,
        (request.last.is_some() && trimmed) || before_after,
        (request.first.is_some() && trimmed) || after_before,
        list.len(),
    )
}

fn ids(plans: &[Plan]) -> Vec<PlanId> {
    plans.iter().map(|plan| plan.id).collect()
}
