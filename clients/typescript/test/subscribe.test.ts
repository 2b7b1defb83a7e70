// `subscribe` with the generated LivePlansDocument against a running plans-api: the current list
// first, the new list after a write, nothing for another operator's write; leaving the loop
// closes the subscription. When the credential expires: a token function renews it and the loop
// goes on; a fixed token ends the loop with UNAUTHENTICATED.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreatePlanDocument,
  LivePlansDocument,
  PlansApiClient,
  PlansApiError,
  type CreatePlanInput,
} from '../src/index.js';
import { operatorToken, startServer, type Server } from './server.js';

let server: Server;
let admin: PlansApiClient;
let anonymous: PlansApiClient;

before(async () => {
  server = await startServer();
  admin = new PlansApiClient({ url: server.url, token: server.token });
  anonymous = new PlansApiClient({ url: server.url });
});

after(async () => {
  await server?.stop();
});

const plan = (userId: number, name: string): CreatePlanInput => ({
  userId,
  name,
  connectionType: 'PPPOE',
  priceCents: 500,
  durationMinutes: 30,
});

test('subscribe yields the current list, then each new list', async () => {
  const { createPlan: first } = await admin.request(CreatePlanDocument, { input: plan(41, 'first') });
  const live = anonymous.subscribe(LivePlansDocument, { userId: 41 });
  const initial = await live.next();
  assert.equal(initial.done, false);
  assert.deepEqual(
    initial.value?.plans.map((p) => p.id),
    [first.id],
  );

  // Another operator's plan, then one of operator 41's: the next event is the latter.
  await admin.request(CreatePlanDocument, { input: plan(42, 'elsewhere') });
  const { createPlan: second } = await admin.request(CreatePlanDocument, { input: plan(41, 'second') });
  const changed = await live.next();
  assert.deepEqual(
    changed.value?.plans.map((p) => p.name),
    ['first', 'second'],
  );
  assert.equal(changed.value?.plans[1]?.id, second.id);
  assert.equal(changed.value?.plans[1]?.connectionType, 'PPPOE');

  // Leaving closes the connection.
  const ended = await live.return(undefined);
  assert.equal(ended.done, true);
});

test('for await ... break ends a subscription', async () => {
  let events = 0;
  for await (const { plans } of anonymous.subscribe(LivePlansDocument, { userId: 43, connectionType: 'STATIC' })) {
    assert.deepEqual(plans, []);
    events += 1;
    break;
  }
  assert.equal(events, 1);
});

/** The server accepts a JWT until `exp` plus this leeway (seconds). */
const LEEWAY_SECONDS = 30;

test('a token function renews an expired credential and the subscription goes on', async () => {
  // The server stops accepting the first token 2 s from now; the function then hands out a fresh one.
  const tokens = [
    operatorToken(server.jwtSecret, 44, 2 - LEEWAY_SECONDS),
    operatorToken(server.jwtSecret, 44, 3600),
  ];
  let calls = 0;
  const operator = new PlansApiClient({
    url: server.url,
    token: () => tokens[Math.min(calls++, tokens.length - 1)],
  });
  const started = Date.now();
  const live = operator.subscribe(LivePlansDocument, { userId: 44 });
  assert.deepEqual((await live.next()).value?.plans, []);
  assert.equal(calls, 1);
  // At expiry the server ends the stream; the client subscribes again with the fresh token, and
  // the current list comes first.
  const renewed = await live.next();
  assert.equal(renewed.done, false);
  assert.deepEqual(renewed.value?.plans, []);
  assert.equal(calls, 2);
  assert.ok(Date.now() - started >= 1_000, 'renewed only when the first token expired');
  const { createPlan } = await admin.request(CreatePlanDocument, { input: plan(44, 'after renewal') });
  assert.deepEqual(
    (await live.next()).value?.plans.map((p) => p.id),
    [createPlan.id],
  );
  await live.return(undefined);
});

test('a fixed token that expires ends the subscription with UNAUTHENTICATED', async () => {
  const operator = new PlansApiClient({
    url: server.url,
    token: operatorToken(server.jwtSecret, 45, 1 - LEEWAY_SECONDS),
  });
  const live = operator.subscribe(LivePlansDocument, { userId: 45 });
  assert.deepEqual((await live.next()).value?.plans, []);
  await assert.rejects(live.next(), (err: unknown) => err instanceof PlansApiError && err.code === 'UNAUTHENTICATED');
});
