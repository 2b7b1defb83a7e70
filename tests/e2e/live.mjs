// What the subscription tests share: a subscription through a real client (graphql-ws or
// graphql-sse) whose events are queued as they arrive, and the plan ids of an event.
import assert from 'node:assert/strict';

/** A live list of plans, by operator (`userId`) or all of them. */
export const SUBSCRIPTION = `subscription Live($userId: Int) { plans(userId: $userId) { id name } }`;

/**
 * Subscribes to `query` with `client`; what arrives is queued with the time it arrived (`at`).
 * `next()` waits for the next event, `quiet(ms)` asserts none comes within `ms`.
 */
export function subscribe(client, query, variables) {
  const queue = [];
  const waiters = [];
  const push = (item) => {
    item.at = Date.now();
    const waiter = waiters.shift();
    if (waiter) waiter(item);
    else queue.push(item);
  };
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (value) => push({ value }),
      error: (error) => push({ error }),
      complete: () => push({ complete: true }),
    },
  );
  const next = (within = 5_000) =>
    queue.length > 0
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no event within ${within} ms`)), within);
          waiters.push((item) => {
            clearTimeout(timer);
            resolve(item);
          });
        });
  const quiet = async (within) => {
    await new Promise((wake) => setTimeout(wake, within));
    assert.equal(queue.length, 0, `expected no event, got ${JSON.stringify(queue[0])}`);
  };
  return { next, quiet, dispose };
}

/** The plan ids of a `plans` event, which must be a list without errors. */
export const ids = (event) => {
  assert.ok(!event.error, `an error: ${JSON.stringify(event.error)}`);
  assert.deepEqual(event.value.errors, undefined);
  return event.value.data.plans.map((plan) => plan.id);
};
