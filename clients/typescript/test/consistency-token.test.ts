// The client's consistency token without a server: a fetch that records what each request sent
// and answers what the test says. The newest token received (the header, else
// `extensions.plansConsistency`) goes with every later request, subscriptions too, for
// `consistencySeconds`, and then no more (the clock is node:test's mocked Date).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';

import { CreatePlanDocument, LivePlansDocument, PlanDocument, PlansApiClient, PlansApiError } from '../src/index.js';

const TOKEN_A = '1.00000000000000aa.00000000000000bb.1f';
const TOKEN_B = '1.00000000000000aa.00000000000000bb.2e';
const TOKEN_C = '1.00000000000000aa.00000000000000bb.3d';

interface Answer {
  header?: string;
  extension?: string;
  status?: number;
  errors?: boolean;
}

/** A client whose fetch answers `answers` in turn and records each request's consistency header. */
function fakeServer(options: { consistencySeconds?: number; queriesByGet?: boolean } = {}) {
  const sent: (string | null)[] = [];
  const answers: Answer[] = [];
  const client = new PlansApiClient({
    url: 'http://plans.test/graphql',
    token: 'admin',
    documentIds: false,
    ...options,
    fetch: async (_input, init) => {
      sent.push(new Headers(init?.headers).get('plans-consistency'));
      const answer = answers.shift() ?? {};
      const headers = new Headers({ 'content-type': 'application/graphql-response+json' });
      if (answer.header !== undefined) headers.set('plans-consistency', answer.header);
      if ((new Headers(init?.headers).get('accept') ?? '').includes('text/event-stream')) {
        const event = `event: next\ndata: ${JSON.stringify({ data: { plans: [] } })}\n\nevent: complete\ndata:\n\n`;
        return new Response(event, { status: 200, headers: { 'content-type': 'text/event-stream' } });
      }
      const body = answer.errors
        ? { errors: [{ message: 'no', extensions: { code: 'BAD_USER_INPUT' } }] }
        : { data: { plan: null, createPlan: { id: '1' } } };
      const extensions = answer.extension === undefined ? {} : { extensions: { plansConsistency: answer.extension } };
      return new Response(JSON.stringify({ ...body, ...extensions }), { status: answer.status ?? 200, headers });
    },
  });
  return { client, sent, answers };
}

const input = { userId: 1, name: 'p', connectionType: 'HOTSPOT', priceCents: 1, durationMinutes: 1 } as const;

beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

test('the token a write returned goes with later requests for consistencySeconds, then stops', async () => {
  const { client, sent, answers } = fakeServer({ consistencySeconds: 60 });
  await client.request(PlanDocument, { id: '1' });
  answers.push({ header: TOKEN_A, extension: TOKEN_A });
  await client.request(CreatePlanDocument, { input });
  await client.request(PlanDocument, { id: '1' });
  mock.timers.tick(59_999);
  await client.request(PlanDocument, { id: '1' });
  mock.timers.tick(1);
  await client.request(PlanDocument, { id: '1' });
  await client.request(PlanDocument, { id: '1' });
  assert.deepEqual(sent, [null, null, TOKEN_A, TOKEN_A, null, null]);
});

test('the newest token received wins, from the header or else the extension; each restarts the lifetime', async () => {
  const { client, sent, answers } = fakeServer({ consistencySeconds: 10 });
  answers.push({ header: TOKEN_A });
  await client.request(CreatePlanDocument, { input });
  mock.timers.tick(8_000);
  // Only in the body (as on each item of a batch).
  answers.push({ extension: TOKEN_B });
  await client.request(CreatePlanDocument, { input });
  mock.timers.tick(8_000);
  // A response without a token (a read) changes nothing.
  await client.request(PlanDocument, { id: '1' });
  // An older-looking token received later still wins: "newest" is the one received last.
  answers.push({ header: TOKEN_A });
  await client.request(CreatePlanDocument, { input });
  await client.request(PlanDocument, { id: '1' });
  mock.timers.tick(10_000);
  await client.request(PlanDocument, { id: '1' });
  assert.deepEqual(sent, [null, TOKEN_A, TOKEN_B, TOKEN_B, TOKEN_A, null]);
});

test('a response with errors still hands over its token; GET queries and subscriptions send it', async () => {
  const { client, sent, answers } = fakeServer({ queriesByGet: true });
  answers.push({ header: TOKEN_C, errors: true });
  await assert.rejects(client.request(CreatePlanDocument, { input }), PlansApiError);
  await client.request(PlanDocument, { id: '1' });
  for await (const { plans } of client.subscribe(LivePlansDocument, { userId: 1 })) {
    assert.deepEqual(plans, []);
    break;
  }
  assert.deepEqual(sent, [null, TOKEN_C, TOKEN_C]);
});

test('consistencySeconds: 0 never sends a token', async () => {
  const { client, sent, answers } = fakeServer({ consistencySeconds: 0 });
  answers.push({ header: TOKEN_A, extension: TOKEN_A });
  await client.request(CreatePlanDocument, { input });
  await client.request(PlanDocument, { id: '1' });
  assert.deepEqual(sent, [null, null]);
});
