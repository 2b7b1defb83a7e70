// `subscribe` with the generated LivePlansDocument against a running plans-api: the current list
// first, the new list after a write, nothing for another operator's write; leaving the loop
// closes the subscription.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CreatePlanDocument, LivePlansDocument, PlansApiClient, type CreatePlanInput } from '../src/index.js';
import { startServer, type Server } from './server.js';

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
