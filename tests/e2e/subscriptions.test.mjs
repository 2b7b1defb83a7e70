// Live lists with the real client libraries: graphql-ws (graphql-transport-ws over a WebSocket,
// with the `ws` package as Node 20's WebSocket) and graphql-sse (distinct-connections mode).
// Each gets the current list first, then the new list after a write, and nothing for a write to
// another operator; both streams complete when the server shuts down.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

import { SUBSCRIPTION, ids, subscribe } from './live.mjs';
import { graphql, startServer } from './server.mjs';

const CREATE = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`;

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

async function create(userId, name) {
  const body = await graphql(
    server.url,
    CREATE,
    { input: { userId, name, priceCents: 1000, durationMinutes: 60, connectionType: 'HOTSPOT' } },
    server.token,
  );
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data.createPlan.id;
}

test('graphql-ws and graphql-sse get the list, then each change of it, and nothing else', async () => {
  const existing = await create(1, 'before');
  const ws = createWsClient({
    url: `${server.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${server.token}` },
    lazy: true,
  });
  const sse = createSseClient({ url: `${server.url}/graphql`, singleConnection: false });
  try {
    const overWs = subscribe(ws, SUBSCRIPTION, { userId: 1 });
    const overSse = subscribe(sse, SUBSCRIPTION, { userId: 1 });
    assert.deepEqual(ids(await overWs.next()), [existing]);
    assert.deepEqual(ids(await overSse.next()), [existing]);

    const created = await create(1, 'live');
    assert.deepEqual(ids(await overWs.next()), [existing, created]);
    assert.deepEqual(ids(await overSse.next()), [existing, created]);

    // Another operator's plan: no event for operator 1's subscribers.
    await create(2, 'elsewhere');
    await overWs.quiet(300);
    await overSse.quiet(0);

    overWs.dispose();
    overSse.dispose();
  } finally {
    await ws.dispose();
    sse.dispose();
  }
});

test('shutdown completes the streams of both clients', async () => {
  const own = await startServer();
  const ws = createWsClient({
    url: `${own.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
  });
  const sse = createSseClient({ url: `${own.url}/graphql`, singleConnection: false, retryAttempts: 0 });
  try {
    const overWs = subscribe(ws, SUBSCRIPTION, {});
    const overSse = subscribe(sse, SUBSCRIPTION, {});
    assert.deepEqual(ids(await overWs.next()), []);
    assert.deepEqual(ids(await overSse.next()), []);
    const stopped = own.stop();
    assert.equal((await overSse.next()).complete, true);
    assert.equal((await overWs.next()).complete, true);
    await stopped;
  } finally {
    await ws.dispose();
    sse.dispose();
    await own.stop();
  }
});
