//! Plan writes: create, update and delete (each with its ownership rule for operators), the
//! change feed's external changes, and dropping or re-trusting the whole cache. Each write runs
//! with its invalidation as one task that outlives its caller, and every invalidation goes
//! through the service's [`Invalidator`](super::super::invalidation::Invalidator).

use std::sync::atomic::Ordering;

use tracing::{Instrument as _, instrument, warn};

use super::PlanService;
use crate::plans::error::PlanError;
use crate::plans::invalidation::Cause;
use crate::plans::repo::{self, UpdateFailed};
use crate::plans::validation;
use crate::plans::{Actor, NewPlan, Plan, PlanChanges, PlanDraft, PlanId, PlanKey, PlanOwner};

impl PlanService {
    /// Creates a plan as `actor`: the admin names the owner (`input.userId` is required); an
    /// operator creates for itself (the owner may be left out, and naming another operator is
    /// [`PlanError::Forbidden`], with nothing written).
    pub async fn create_as(&self, actor: Actor, draft: PlanDraft) -> Result<Plan, PlanError> {
        let user_id = match (actor, draft.user_id) {
            (Actor::Admin, Some(user_id)) => user_id,
            (Actor::Admin, None) => {
                return Err(validation::invalid(
                    "input.userId",
                    "is required for the admin: say which operator the plan is for",
                )
                .into());
            }
            (Actor::Operator(me), None) => me,
            (Actor::Operator(me), Some(user_id)) if user_id == me => me,
            (Actor::Operator(_), Some(other)) => {
                // An invalid input is refused as such first.
                validation::check_new_plan(draft.owned_by(other))?;
                return Err(PlanError::Forbidden(
                    "an operator creates plans only for itself",
                ));
            }
        };
        self.create(draft.owned_by(user_id)).await
    }

    /// Updates a plan as `actor`: an operator changes only its own plans (any other id is
    /// answered `Ok(None)`, as for an id that does not exist, and nothing changes) and may not
    /// move one to another operator ([`PlanError::Forbidden`], decided from the input alone, so
    /// it tells nothing about other operators' plans).
    pub(crate) async fn update_as(
        &self,
        actor: Actor,
        id: PlanId,
        changes: PlanChanges,
    ) -> Result<Option<Plan>, PlanError> {
        match actor {
            Actor::Admin => self.update_owned(id, None, changes).await,
            Actor::Operator(me) => {
                if changes.user_id.is_some_and(|user_id| user_id != me) {
                    validation::check_changes(changes)?;
                    return Err(PlanError::Forbidden(
                        "only the admin moves a plan to another operator",
                    ));
                }
                self.update_owned(id, Some(me), changes).await
            }
        }
    }

    /// Deletes a plan as `actor`: an operator deletes only its own (`Ok(false)` for any other id,
    /// as for one that does not exist).
    pub(crate) async fn delete_as(&self, actor: Actor, id: PlanId) -> Result<bool, PlanError> {
        match actor {
            Actor::Admin => self.delete_owned(id, None).await,
            Actor::Operator(me) => self.delete_owned(id, Some(me)).await,
        }
    }

    /// Validates and stores a new plan, then invalidates the four keys it belongs to. (No
    /// ownership rule: the admin's create; see [`Self::create_as`].)
    #[instrument(name = "plans.create", skip_all, fields(user_id = new.user_id))]
    pub async fn create(&self, new: NewPlan) -> Result<Plan, PlanError> {
        let new = validation::check_new_plan(new)?;
        let (repo, invalidate) = (self.repo.clone(), self.invalidate.clone());
        run_to_completion(async move {
            let (user_id, connection_type) = (new.user_id, new.connection_type);
            match repo.insert(new).await {
                Ok(plan) => {
                    let keys = PlanKey::affected_by(plan.user_id, plan.connection_type);
                    invalidate.keys(&keys, written(plan.id, "created")).await;
                    Ok(plan)
                }
                Err(err) if repo::wrote_nothing(&err) => Err(err.into()),
                Err(err) => {
                    // The insert may have committed before the error (a dropped connection): its
                    // keys are dropped anyway, which costs a reload and is never wrong.
                    let keys = PlanKey::affected_by(user_id, connection_type);
                    invalidate.keys(&keys, failed("created")).await;
                    Err(err.into())
                }
            }
        })
        .await
    }

    /// Deletes a plan as the admin; `Ok(false)` if there was none with that id.
    pub async fn delete(&self, id: PlanId) -> Result<bool, PlanError> {
        self.delete_owned(id, None).await
    }

    /// Deletes a plan (only if `owner` owns it, when given).
    #[instrument(name = "plans.delete", skip(self))]
    async fn delete_owned(&self, id: PlanId, owner: Option<i32>) -> Result<bool, PlanError> {
        let (repo, invalidate) = (self.repo.clone(), self.invalidate.clone());
        run_to_completion(async move {
            match repo.delete(id, owner).await {
                Ok(Some(plan)) => {
                    let keys = PlanKey::affected_by(plan.user_id, plan.connection_type);
                    invalidate.keys(&keys, written(plan.id, "deleted")).await;
                    Ok(true)
                }
                Ok(None) => Ok(false),
                Err(err) if repo::wrote_nothing(&err) => Err(err.into()),
                Err(err) => {
                    // Whether the delete committed is unknown, and so is the plan's owner.
                    warn!(plan_id = id, "delete failed; dropping the whole plan cache");
                    invalidate.all(failed("deleted")).await;
                    Err(err.into())
                }
            }
        })
        .await
    }

    /// Changes the given fields of a plan (validated as for a new plan; at least one), then
    /// invalidates the keys of the plan before *and* after the change: the same four when owner
    /// and type stay, up to seven when it moves. `Ok(None)` if there is no plan with that id.
    /// Its id and creation time never change.
    /// (As the admin; see [`Self::update_as`].)
    pub async fn update(
        &self,
        id: PlanId,
        changes: PlanChanges,
    ) -> Result<Option<Plan>, PlanError> {
        self.update_owned(id, None, changes).await
    }

    /// Updates a plan (only if `owner` owns it, when given).
    #[instrument(name = "plans.update", skip(self, changes))]
    async fn update_owned(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: PlanChanges,
    ) -> Result<Option<Plan>, PlanError> {
        let changes = validation::check_changes(changes)?;
        let (repo, invalidate) = (self.repo.clone(), self.invalidate.clone());
        run_to_completion(async move {
            match repo.update(id, owner, &changes).await {
                Ok(Some(updated)) => {
                    let keys = keys_changed([updated.from, updated.plan.owner()]);
                    invalidate.keys(&keys, written(id, "updated")).await;
                    Ok(Some(updated.plan))
                }
                Ok(None) => Ok(None),
                Err(UpdateFailed::BeforeWriting(error)) => Err(error.into()),
                Err(UpdateFailed::Unknown(error)) => {
                    // It may have committed (a connection lost on the way back), and which
                    // operator's plan it was is unknown.
                    warn!(
                        plan_id = id,
                        "update failed after it was sent; dropping the whole plan cache"
                    );
                    invalidate.all(failed("updated")).await;
                    Err(error.into())
                }
            }
        })
        .await
    }

    /// Drops the whole plan cache (e.g. after changes made behind the server's back).
    pub async fn invalidate_all(&self) {
        self.invalidate.all(Cause::Unknown).await;
    }

    /// A change made anywhere (another replica, plain SQL), as announced by the change feed:
    /// drops the keys of the plan's owner and type before and after the change. (In a span of its
    /// own, `source = "change feed"`, for the live lists' events to link to.)
    pub async fn apply_external_change(&self, before: Option<PlanOwner>, after: Option<PlanOwner>) {
        let keys = keys_changed(before.into_iter().chain(after));
        self.invalidate.keys(&keys, Cause::ChangeFeed).await;
    }

    /// Trusts the cache again after changes may have been missed: drops everything (fencing
    /// loads in flight), then serves from the cache again.
    pub async fn resume_caching(&self) {
        self.invalidate
            .all_then(Cause::Resume, || {
                // Before the wake-up: the reloads it causes go through the (fenced) cache again.
                self.read_through.store(false, Ordering::SeqCst);
            })
            .await;
    }
}

/// Runs a write and its invalidation as one task that finishes even if the caller goes away (a
/// request timeout, a client hanging up): otherwise a write could commit and its invalidation
/// never run, leaving the cache stale until the TTL.
async fn run_to_completion<T: Send + 'static>(
    write: impl Future<Output = T> + Send + 'static,
) -> T {
    // In the caller's span, so the write and its invalidation show in the request's trace.
    match tokio::spawn(write.in_current_span()).await {
        Ok(output) => output,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Cancelled only when the runtime shuts down, which is ending this caller too.
        Err(_) => std::future::pending().await,
    }
}

/// The keys of every owner in `owners`, each once: for a change from one owner and type to
/// another, `plans` and the old and new owner, type and owner-type keys (at most seven).
fn keys_changed(owners: impl IntoIterator<Item = PlanOwner>) -> Vec<PlanKey> {
    let mut keys: Vec<PlanKey> = Vec::with_capacity(8);
    for owner in owners {
        for key in PlanKey::affected_by(owner.user_id, owner.connection_type) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

fn written(plan_id: PlanId, change: &'static str) -> Cause {
    Cause::Write { plan_id, change }
}

fn failed(change: &'static str) -> Cause {
    Cause::FailedWrite { change }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::ConnectionType;

    fn owner(user_id: i32, connection_type: ConnectionType) -> PlanOwner {
        PlanOwner {
            user_id,
            connection_type,
        }
    }

    fn keys(owners: &[PlanOwner]) -> Vec<String> {
        keys_changed(owners.iter().copied())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_change_touches_the_keys_before_and_after_each_once() {
        let hotspot_1 = owner(1, ConnectionType::Hotspot);
        assert_eq!(keys(&[hotspot_1, hotspot_1]).len(), 4);
        assert_eq!(
            keys(&[hotspot_1, owner(2, ConnectionType::Hotspot)]),
            [
                "plans",
                "plans:user_1",
                "plans:type_hotspot",
                "plans:user_1:type_hotspot",
                "plans:user_2",
                "plans:user_2:type_hotspot",
            ]
        );
        assert_eq!(
            keys(&[hotspot_1, owner(1, ConnectionType::Static)]).len(),
            6
        );
        // A move to another owner and type: the most a change touches.
        assert_eq!(
            keys(&[hotspot_1, owner(2, ConnectionType::Pppoe)]),
            [
                "plans",
                "plans:user_1",
                "plans:type_hotspot",
                "plans:user_1:type_hotspot",
                "plans:user_2",
                "plans:type_pppoe",
                "plans:user_2:type_pppoe",
            ]
        );
    }
}
