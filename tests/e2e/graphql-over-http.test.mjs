// GraphQL over HTTP "by the book": the graphql-http audit suite (maintained with the
// GraphQL-over-HTTP specification) against the real server. Every audit must pass, the MAYs
// included, and a browser-style GET of a query must be cacheable as configured.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serverAudits } from 'graphql-http';

import { startServer } from './server.mjs';

let server;

before(async () => {
  server = await startServer({ HTTP_CACHE_MAX_AGE: '30' });
});

after(async () => {
  await server?.stop();
});

test('the graphql-http server audits all pass', async (t) => {
  const audits = serverAudits({ url: `${server.url}/graphql` });
  assert.ok(audits.length > 40, `only ${audits.length} audits`);
  for (const audit of audits) {
    await t.test(`${audit.id} ${audit.name}`, async () => {
      const result = await audit.fn();
      const detail = result.status === 'ok' ? '' : `${result.reason}\n${await describe(result.response)}`;
      assert.equal(result.status, 'ok', detail);
    });
  }
});

async function describe(response) {
  if (!response) return '';
  const headers = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
  return `${response.status}\n${headers}\n\n${await response.text().catch(() => '')}`;
}

test('a GET query is cacheable for HTTP_CACHE_MAX_AGE and revalidates with its ETag', async () => {
  const url = `${server.url}/graphql?query=${encodeURIComponent('{ plans { id name } }')}`;
  const first = await fetch(url, { headers: { accept: 'application/graphql-response+json' } });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('cache-control'), 'public, max-age=30');
  assert.match(first.headers.get('content-type'), /^application\/graphql-response\+json/);
  assert.deepEqual(await first.json(), { data: { plans: [] } });
  const etag = first.headers.get('etag');
  assert.ok(etag, 'no ETag');

  const again = await fetch(url, {
    headers: { accept: 'application/graphql-response+json', 'if-none-match': etag },
  });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
});

test('every response carries a request id, which the server log shows', async () => {
  const id = `e2e-${Date.now()}`;
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ query: '{ plans { id } }' }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-request-id'), id);
  // The access-log line is written as the response goes out; give it a moment to reach the pipe.
  for (let i = 0; i < 50 && !server.logs().includes(id); i++) {
    await new Promise((wake) => setTimeout(wake, 20));
  }
  const line = server.logs().split('\n').find((line) => line.includes(id));
  assert.ok(line, `request id ${id} not in the log`);
  assert.match(line, /status=200/);
});
