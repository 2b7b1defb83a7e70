// The generated, typed operations against a running plans-api: plans, plan, plansConnection,
// createPlan, updatePlan, deletePlan, by POST and (queries) by GET, and the errors a caller has
// to handle.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CreatePlanDocument,
  DeletePlanDocument,
  PlanDocument,
  PlansApiClient,
  PlansApiError,
  PlansDocument,
  PlansPageDocument,
  UpdatePlanDocument,
  type CreatePlanInput,
  type PlansPageQuery,
  type Plan,
} from '../src/index.js';
import { MANIFEST, operatorToken, startServer, type Server } from './server.js';

let server: Server;
let admin: PlansApiClient;
let anonymous: PlansApiClient;
let cached: PlansApiClient;

before(async () => {
  // Only the manifest's documents run: every operation below proves it is in the manifest.
  server = await startServer({ TRUSTED_DOCUMENTS_FILE: MANIFEST, TRUSTED_DOCUMENTS: 'require' });
  admin = new PlansApiClient({ url: server.url, token: server.token });
  anonymous = new PlansApiClient({ url: server.url });
  cached = new PlansApiClient({ url: server.url, queriesByGet: true });
});

after(async () => {
  await server?.stop();
});

const hotspot: CreatePlanInput = {
  userId: 7,
  name: '1 Hour Unlimited',
  connectionType: 'HOTSPOT',
  priceCents: 1000,
  durationMinutes: 60,
};

async function create(input: CreatePlanInput): Promise<Plan> {
  const { createPlan } = await admin.request(CreatePlanDocument, { input });
  return createPlan;
}

test('createPlan returns the stored plan, typed', async () => {
  const plan = await create({ ...hotspot, name: '  1 Hour Unlimited  ' });
  assert.equal(plan.name, '1 Hour Unlimited');
  assert.equal(plan.userId, 7);
  assert.equal(plan.connectionType, 'HOTSPOT');
  assert.equal(plan.priceCents, 1000);
  assert.equal(plan.durationMinutes, 60);
  assert.match(plan.id, /^\d+$/);
  assert.ok(!Number.isNaN(Date.parse(plan.createdAt)), plan.createdAt);

  const { plan: read } = await anonymous.request(PlanDocument, { id: plan.id });
  assert.deepEqual(read, plan);
});

test('plans filters by owner and type, by POST and by GET', async () => {
  const pppoe = await create({ ...hotspot, userId: 8, name: 'Home Fibre', connectionType: 'PPPOE' });
  const staticIp = await create({ ...hotspot, userId: 8, name: 'Static IP', connectionType: 'STATIC' });

  for (const client of [anonymous, cached]) {
    const { plans: all } = await client.request(PlansDocument);
    assert.ok(all.length >= 2);
    const { plans: owned } = await client.request(PlansDocument, { userId: 8 });
    assert.deepEqual(owned, [pppoe, staticIp]);
    const { plans: typed } = await client.request(PlansDocument, { userId: 8, connectionType: 'STATIC' });
    assert.deepEqual(typed, [staticIp]);
  }
});

test('with queriesByGet, queries go by GET and mutations still by POST', async () => {
  const methods: string[] = [];
  const recording = new PlansApiClient({
    url: server.url,
    token: server.token,
    queriesByGet: true,
    fetch: (input, init) => {
      methods.push(init?.method ?? 'GET');
      return fetch(input, init);
    },
  });
  await recording.request(PlansDocument, { userId: 8 });
  await recording.request(PlanDocument, { id: '1' });
  assert.equal((await recording.request(DeletePlanDocument, { id: '999999' })).deletePlan, false);
  assert.deepEqual(methods, ['GET', 'GET', 'POST']);
});

test('deletePlan reports whether a plan was deleted, and reads see it at once', async () => {
  const plan = await create({ ...hotspot, userId: 9, name: 'Short lived' });
  // Cached by the server (and revalidated over GET) before the delete…
  assert.deepEqual((await cached.request(PlansDocument, { userId: 9 })).plans, [plan]);
  assert.equal((await admin.request(DeletePlanDocument, { id: plan.id })).deletePlan, true);
  assert.equal((await admin.request(DeletePlanDocument, { id: plan.id })).deletePlan, false);
  // …and gone right after, for both ways of asking.
  assert.deepEqual((await cached.request(PlansDocument, { userId: 9 })).plans, []);
  assert.deepEqual((await anonymous.request(PlansDocument, { userId: 9 })).plans, []);
  assert.equal((await anonymous.request(PlanDocument, { id: plan.id })).plan, null);
});

test('errors arrive as PlansApiError with the server code', async () => {
  await assert.rejects(
    anonymous.request(CreatePlanDocument, { input: hotspot }),
    (err: unknown) => err instanceof PlansApiError && err.code === 'UNAUTHENTICATED' && err.status === 200,
  );
  await assert.rejects(
    new PlansApiClient({ url: server.url, token: 'wrong' }).request(DeletePlanDocument, { id: '1' }),
    (err: unknown) => err instanceof PlansApiError && err.code === 'UNAUTHENTICATED',
  );
  await assert.rejects(admin.request(CreatePlanDocument, { input: { ...hotspot, priceCents: -1 } }), (err: unknown) => {
    assert.ok(err instanceof PlansApiError);
    assert.equal(err.code, 'BAD_USER_INPUT');
    assert.equal(err.errors[0]?.extensions.field, 'input.priceCents');
    assert.ok(err.requestId, 'the request id, to find the request in the server log');
    return true;
  });
  await assert.rejects(anonymous.request(PlanDocument, { id: 'not-a-number' }), (err: unknown) => {
    return err instanceof PlansApiError && err.code === 'BAD_USER_INPUT';
  });
});

test('plansConnection pages through a list forward and back, by POST and by GET', async () => {
  const made: Plan[] = [];
  for (let i = 0; i < 5; i++) {
    made.push(await create({ ...hotspot, userId: 11, name: `Page ${i}` }));
  }
  for (const client of [anonymous, cached]) {
    const seen: Plan[] = [];
    let after: string | null = null;
    for (;;) {
      const { plansConnection: page }: PlansPageQuery = await client.request(PlansPageDocument, {
        userId: 11,
        first: 2,
        after,
      });
      assert.equal(page.totalCount, 5);
      seen.push(...page.edges.map((edge) => edge.node));
      assert.equal(page.pageInfo.hasPreviousPage, after !== null);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor ?? null;
    }
    assert.deepEqual(seen, made);

    // Back from the end.
    const { plansConnection: last } = await client.request(PlansPageDocument, { userId: 11, last: 2 });
    assert.deepEqual(
      last.edges.map((edge) => edge.node),
      made.slice(3),
    );
    assert.ok(last.pageInfo.hasPreviousPage && !last.pageInfo.hasNextPage);
    const { plansConnection: previous } = await client.request(PlansPageDocument, {
      userId: 11,
      last: 2,
      before: last.pageInfo.startCursor,
    });
    assert.deepEqual(
      previous.edges.map((edge) => edge.node),
      made.slice(1, 3),
    );
  }
  await assert.rejects(anonymous.request(PlansPageDocument, { first: 101 }), (err: unknown) => {
    assert.ok(err instanceof PlansApiError);
    assert.equal(err.code, 'BAD_USER_INPUT');
    assert.equal(err.errors[0]?.extensions.field, 'first');
    return true;
  });
});

test('updatePlan changes the given fields, keeps createdAt, and reads see it at once', async () => {
  const plan = await create({ ...hotspot, userId: 12, name: 'Before' });
  // Cached by the server before the update…
  assert.deepEqual((await cached.request(PlansDocument, { userId: 12 })).plans, [plan]);
  const { updatePlan } = await admin.request(UpdatePlanDocument, {
    id: plan.id,
    input: { name: 'After', priceCents: 1500, userId: 13, connectionType: 'PPPOE' },
  });
  assert.deepEqual(updatePlan, {
    ...plan,
    name: 'After',
    priceCents: 1500,
    userId: 13,
    connectionType: 'PPPOE',
  });
  // …and moved right after, for both ways of asking.
  assert.deepEqual((await cached.request(PlansDocument, { userId: 12 })).plans, []);
  assert.deepEqual((await anonymous.request(PlansDocument, { userId: 13 })).plans, [updatePlan]);
  assert.deepEqual((await cached.request(PlanDocument, { id: plan.id })).plan, updatePlan);

  assert.equal((await admin.request(UpdatePlanDocument, { id: '999999', input: { name: 'x' } })).updatePlan, null);
  await assert.rejects(admin.request(UpdatePlanDocument, { id: plan.id, input: {} }), (err: unknown) => {
    return err instanceof PlansApiError && err.code === 'BAD_USER_INPUT' && err.errors[0]?.extensions.field === 'input';
  });
  await assert.rejects(anonymous.request(UpdatePlanDocument, { id: plan.id, input: { name: 'x' } }), (err: unknown) => {
    return err instanceof PlansApiError && err.code === 'UNAUTHENTICATED';
  });
});

test('an operator signs in with its JWT, given as a function returning the current token', async () => {
  const issued: string[] = [];
  const operator = new PlansApiClient({
    url: server.url,
    token: async () => {
      const token = operatorToken(server.jwtSecret, 21, 600 + issued.length);
      issued.push(token);
      return token;
    },
  });
  // userId left out: the operator's own.
  const { createPlan: mine } = await operator.request(CreatePlanDocument, {
    input: { name: 'mine', connectionType: 'PPPOE', priceCents: 500, durationMinutes: 30 },
  });
  assert.equal(mine.userId, 21);
  // Another operator's id: FORBIDDEN.
  await assert.rejects(
    operator.request(CreatePlanDocument, { input: { ...hotspot, userId: 22 } }),
    (err: unknown) => err instanceof PlansApiError && err.code === 'FORBIDDEN',
  );
  // Another operator's plan answers as an unknown id.
  const theirs = await create({ ...hotspot, userId: 22 });
  const { updatePlan } = await operator.request(UpdatePlanDocument, { id: theirs.id, input: { priceCents: 1 } });
  assert.equal(updatePlan, null);
  const { deletePlan } = await operator.request(DeletePlanDocument, { id: theirs.id });
  assert.equal(deletePlan, false);
  const { deletePlan: deletedMine } = await operator.request(DeletePlanDocument, { id: mine.id });
  assert.equal(deletedMine, true);
  // The function was asked before every request: a fresh token each time.
  assert.equal(issued.length, 5);
  assert.equal(new Set(issued).size, 5);

  // A fixed string works too; an invalid token is refused even for a read.
  const fixed = new PlansApiClient({ url: server.url, token: operatorToken(server.jwtSecret, 21) });
  await fixed.request(PlansDocument, { userId: 21 });
  await assert.rejects(
    new PlansApiClient({ url: server.url, token: operatorToken('not-the-secret', 21) }).request(PlansDocument, {}),
    (err: unknown) => err instanceof PlansApiError && err.code === 'UNAUTHENTICATED',
  );
});

test('documents go by documentId (the manifest), by POST and by GET; other text is refused', async () => {
  const sent: { method: string; body: Record<string, unknown> | undefined; url: URL }[] = [];
  const recording = (queriesByGet: boolean) =>
    new PlansApiClient({
      url: server.url,
      token: server.token,
      queriesByGet,
      fetch: (input, init) => {
        const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
        sent.push({ method: init?.method ?? 'GET', body, url: new URL(String(input)) });
        return fetch(input, init);
      },
    });
  await recording(false).request(PlansDocument, { userId: 11 });
  await recording(true).request(PlansDocument, { userId: 11 });
  const post = sent[0];
  const get = sent[1];
  assert.equal(post?.method, 'POST');
  assert.match(String(post?.body?.['documentId']), /^sha256:[0-9a-f]{64}$/);
  assert.equal(post?.body?.['query'], undefined);
  assert.equal(get?.method, 'GET');
  assert.match(String(get?.url.searchParams.get('documentId')), /^sha256:[0-9a-f]{64}$/);
  assert.equal(get?.url.searchParams.get('query'), null);

  // Text outside the manifest does not run under TRUSTED_DOCUMENTS=require.
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ plans { id } }' }),
  });
  const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
  assert.equal(body.errors[0]?.extensions.code, 'PERSISTED_QUERY_NOT_IN_LIST');
});

test('a server without the manifest gets the text after PERSISTED_QUERY_NOT_FOUND', async () => {
  const plain = await startServer();
  try {
    const client = new PlansApiClient({ url: plain.url });
    assert.deepEqual((await client.request(PlansDocument, { userId: 12 })).plans, []);
    const textOnly = new PlansApiClient({ url: plain.url, documentIds: false });
    assert.deepEqual((await textOnly.request(PlansDocument, { userId: 12 })).plans, []);
  } finally {
    await plain.stop();
  }
});
