// A live subscription ends when its credential does, with the real client libraries: graphql-ws
// sees the socket closed with 4403 Forbidden, and with a `connectionParams` function reconnects
// with a fresh token and receives the next change; graphql-sse receives an UNAUTHENTICATED error
// and the stream completes. Within a second of the moment the server stops accepting the token
// (`exp` plus its 30 s leeway), nothing after it; subscriptions with valid credentials go on.
// On SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (CI sets it).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

import { SUBSCRIPTION, ids, subscribe } from './live.mjs';
import { POSTGRES_URL, graphql, startServer } from './server.mjs';

const CREATE = `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`;
const JWT_SECRET = 'e2e-jwt-secret-0123456789abcdefghij';
/** The server accepts a token until `exp` plus this many seconds. */
const LEEWAY_SECONDS = 30;

const base64url = (value) => Buffer.from(value).toString('base64url');

/** An HS256 operator token the server stops accepting `validFor` seconds from now, and when. */
function token(operator, validFor) {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + validFor - LEEWAY_SECONDS;
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = base64url(
    JSON.stringify({ sub: `operator:${operator}`, operator_id: operator, iat: now, exp }),
  );
  const signature = createHmac('sha256', JWT_SECRET).update(`${header}.${claims}`).digest('base64url');
  return { token: `${header}.${claims}.${signature}`, expires: (exp + LEEWAY_SECONDS) * 1000 };
}

/** `at` is at `expires` or less than a second after it. */
function withinASecond(at, expires, what) {
  assert.ok(at >= expires, `${what}: ${expires - at} ms before the token expired`);
  assert.ok(at - expires < 1_000, `${what}: ${at - expires} ms after the token expired`);
}

const databases = [['SQLite', false]];
if (POSTGRES_URL) databases.push(['PostgreSQL', true]);
else test.skip('on PostgreSQL: TEST_DATABASE_URL is not set');

for (const [database, postgres] of databases) {
  describe(`on ${database}`, () => {
    let server;
    const create = async (userId, name) => {
      const body = await graphql(
        server.url,
        CREATE,
        { input: { userId, name, priceCents: 1000, durationMinutes: 60, connectionType: 'HOTSPOT' } },
        server.token,
      );
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data.createPlan.id;
    };
    const wsClient = (options) =>
      createWsClient({
        url: `${server.url.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        lazy: true,
        ...options,
      });
    const sseClient = (bearer) =>
      createSseClient({
        url: `${server.url}/graphql`,
        singleConnection: false,
        retryAttempts: 0,
        headers: () => ({ authorization: `Bearer ${bearer}` }),
      });

    before(async () => {
      server = await startServer(
        { JWT_SECRET, READ_ACCESS: 'authenticated' },
        { postgres },
      );
    });

    after(async () => {
      await server?.stop();
    });

    test('expiry ends both transports within a second; valid subscriptions go on', async () => {
      const expiring = token(7, 3);
      const valid = token(7, 3600);
      const clients = {
        wsExpiring: wsClient({
          connectionParams: { Authorization: `Bearer ${expiring.token}` },
          retryAttempts: 0,
        }),
        wsValid: wsClient({ connectionParams: () => ({ Authorization: `Bearer ${valid.token}` }) }),
        sseExpiring: sseClient(expiring.token),
        sseValid: sseClient(valid.token),
      };
      try {
        const live = Object.fromEntries(
          Object.entries(clients).map(([name, client]) => [
            name,
            subscribe(client, SUBSCRIPTION, { userId: 7 }),
          ]),
        );
        for (const subscription of Object.values(live)) {
          assert.deepEqual(ids(await subscription.next()), []);
        }

        // graphql-ws: the socket closed with 4403 (no retry here), within a second of expiry.
        const closed = await live.wsExpiring.next(6_000);
        assert.equal(closed.error?.code, 4403, JSON.stringify(closed));
        assert.equal(closed.error?.reason, 'Forbidden');
        withinASecond(closed.at, expiring.expires, 'graphql-ws close');
        // graphql-sse: an UNAUTHENTICATED error, then the stream completes.
        const ended = await live.sseExpiring.next(6_000);
        assert.equal(ended.value?.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(ended));
        assert.equal(ended.value.data ?? null, null, "no data");
        withinASecond(ended.at, expiring.expires, 'graphql-sse error');
        assert.equal((await live.sseExpiring.next(1_000)).complete, true);

        // A change after expiry reaches the valid subscriptions, and nothing reaches the others.
        const created = await create(7, 'after expiry');
        assert.deepEqual(ids(await live.wsValid.next()), [created]);
        assert.deepEqual(ids(await live.sseValid.next()), [created]);
        await live.wsExpiring.quiet(300);
        await live.sseExpiring.quiet(0);
      } finally {
        await clients.wsExpiring.dispose();
        await clients.wsValid.dispose();
        clients.sseExpiring.dispose();
        clients.sseValid.dispose();
      }
    });

    test('graphql-ws with a connectionParams function reconnects with a fresh token and resumes', async () => {
      const tokens = [token(7, 3), token(7, 3600)];
      const issued = [];
      let connected = 0;
      const client = wsClient({
        // What an application does: ask its auth library for the current token at each connect.
        connectionParams: () => {
          const next = tokens[Math.min(issued.length, tokens.length - 1)];
          issued.push(next);
          return { Authorization: `Bearer ${next.token}` };
        },
        on: { connected: () => (connected += 1) },
      });
      try {
        const live = subscribe(client, SUBSCRIPTION, { userId: 8 });
        assert.deepEqual(ids(await live.next()), []);
        assert.equal(connected, 1);
        // Expiry closes the socket (4403); the client reconnects with the fresh token and
        // subscribes again: the current list first, with no error surfaced to the subscriber.
        const resumed = await live.next(10_000);
        assert.deepEqual(ids(resumed), []);
        assert.ok(resumed.at >= tokens[0].expires, 'resumed only after the first token expired');
        assert.equal(connected, 2);
        assert.equal(issued.length, 2);
        const created = await create(8, 'after the renewal');
        assert.deepEqual(ids(await live.next()), [created]);
        live.dispose();
      } finally {
        await client.dispose();
      }
    });
  });
}
