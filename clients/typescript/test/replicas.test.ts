// Read your writes across replicas: two plans-api processes on one PostgreSQL database (each
// applies the other's writes from the change feed, a millisecond or two later). The client's
// fetch plays the load balancer: each write goes to replica A, and the read right after it to
// replica B, which has the list cached from the read before. With the consistency token the
// client keeps, B never misses the write; B's metrics show it honoured every token.
// Needs PostgreSQL (TEST_DATABASE_URL); skipped without it, except under CI=true.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreatePlanDocument,
  DeletePlanDocument,
  LivePlansDocument,
  PlansApiClient,
  PlansDocument,
  type CreatePlanInput,
} from '../src/index.js';
import { MANIFEST, createPostgresDatabase, startServer, type PostgresDatabase, type Server } from './server.js';

/** Write-then-read pairs of each kind (create, delete). */
const PAIRS = 200;

let database: PostgresDatabase | string;
let a: Server | undefined;
let b: Server | undefined;

before(async () => {
  database = await createPostgresDatabase();
  if (typeof database === 'string') return;
  const env = { DATABASE_URL: database.url, TRUSTED_DOCUMENTS_FILE: MANIFEST };
  // One after the other: the first runs the migrations.
  a = await startServer(env);
  b = await startServer({ ...env, ADMIN_TOKEN: a.token, JWT_SECRET: a.jwtSecret });
});

after(async () => {
  await a?.stop();
  await b?.stop();
  if (typeof database !== 'string') await database?.drop();
});

/** A client whose requests go to whichever replica `route.to` names at the time. */
function balanced(options: { consistencySeconds?: number } = {}) {
  const route: { to: Server | undefined } = { to: undefined };
  const client = new PlansApiClient({
    url: 'http://replica.invalid/graphql',
    token: a!.token,
    ...options,
    fetch: (input, init) => {
      const target = new URL(route.to!.url);
      const url = new URL(input instanceof Request ? input.url : input.toString());
      url.protocol = target.protocol;
      url.host = target.host;
      return fetch(url, init);
    },
  });
  return { client, route };
}

/** Each outcome's count in `plans_consistency_requests_total` on a replica. */
async function outcomes(server: Server): Promise<Record<string, number>> {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const counts: Record<string, number> = { current: 0, waited: 0, database: 0 };
  for (const [, outcome, value] of text.matchAll(/^plans_consistency_requests_total\{[^}]*outcome="(\w+)"[^}]*\} (\S+)$/gm)) {
    counts[outcome!] = Number(value);
  }
  return counts;
}

const plan = (userId: number, name: string): CreatePlanInput => ({
  userId,
  name,
  connectionType: 'PPPOE',
  priceCents: 700,
  durationMinutes: 60,
});

/**
 * `PAIRS` times: create on A, then list on B; delete on A, then list on B. Returns how often B's
 * list missed the write.
 */
async function writeOnAReadOnB(client: PlansApiClient, route: { to: Server | undefined }, userId: number) {
  let missed = 0;
  route.to = b;
  await client.request(PlansDocument, { userId });
  for (let i = 0; i < PAIRS; i += 1) {
    route.to = a;
    const { createPlan } = await client.request(CreatePlanDocument, { input: plan(userId, `plan ${i}`) });
    route.to = b;
    const created = await client.request(PlansDocument, { userId });
    if (!created.plans.some((p) => p.id === createPlan.id)) missed += 1;

    route.to = a;
    const { deletePlan } = await client.request(DeletePlanDocument, { id: createPlan.id });
    assert.equal(deletePlan, true);
    route.to = b;
    const deleted = await client.request(PlansDocument, { userId });
    if (deleted.plans.some((p) => p.id === createPlan.id)) missed += 1;
  }
  return missed;
}

test(`a write on replica A is never missed by the read on replica B right after it (${PAIRS} creates, ${PAIRS} deletes)`, async (t) => {
  if (typeof database === 'string') return t.skip(database);
  const { client, route } = balanced();
  const before = await outcomes(b!);
  const missed = await writeOnAReadOnB(client, route, 501);
  const after = await outcomes(b!);
  assert.equal(missed, 0, `replica B missed ${missed} of ${2 * PAIRS} writes made on A`);

  // B honoured a token on every read after a write (2 × PAIRS), and only there.
  const honoured = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
  const total = Object.values(honoured).reduce((sum, n) => sum + n, 0);
  assert.equal(total, 2 * PAIRS, `outcomes on B: ${JSON.stringify(honoured)}`);
  t.diagnostic(`outcomes on replica B: ${JSON.stringify(honoured)}`);

  // The same client with no token (what it did before): how often B is behind, for the record
  // only (that depends on the machine's timing, so it is not asserted).
  const control = balanced({ consistencySeconds: 0 });
  const stale = await writeOnAReadOnB(control.client, control.route, 502);
  t.diagnostic(`without a token, replica B missed ${stale} of ${2 * PAIRS} writes`);
});

test('a subscription started on replica B right after a write on A starts with that write', async (t) => {
  if (typeof database === 'string') return t.skip(database);
  const { client, route } = balanced();
  for (let i = 0; i < 20; i += 1) {
    const userId = 600 + i;
    route.to = b;
    await client.request(PlansDocument, { userId });
    route.to = a;
    const { createPlan } = await client.request(CreatePlanDocument, { input: plan(userId, `live ${i}`) });
    route.to = b;
    const live = client.subscribe(LivePlansDocument, { userId });
    const first = await live.next();
    await live.return(undefined);
    assert.deepEqual(
      first.value?.plans.map((p) => p.id),
      [createPlan.id],
      `subscription ${i} on B started without the plan created on A`,
    );
  }
});
