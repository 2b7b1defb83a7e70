// Popular GraphQL clients against the real server, as a new user would wire them: Apollo Client
// (HttpLink, the persisted-queries link by POST and by GET, BatchHttpLink, client awareness from
// a page on another origin in headless Chromium, so through a real CORS preflight), urql with
// its persisted exchange, and graphql-request (request, batchRequests). Every request the Node clients send is recorded, so the tests also show
// what went over the wire (a hash alone, then the query once, then the hash alone again).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import * as esbuild from 'esbuild';
import { batchRequests, request as graphqlRequest } from 'graphql-request';
import { chromium } from 'playwright-core';

import { graphql, startServer } from './server.mjs';

// Apollo Client 3 ships CommonJS for Node (its ESM files are for bundlers).
const require = createRequire(import.meta.url);
const { ApolloClient, InMemoryCache, HttpLink, gql } = require('@apollo/client/core');
const { createPersistedQueryLink } = require('@apollo/client/link/persisted-queries');
const { BatchHttpLink } = require('@apollo/client/link/batch-http');

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HERE = dirname(fileURLToPath(import.meta.url));

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

let server;
let page; // the other origin's static server (for the browser test)
let browser;

before(async () => {
  page = await startPageServer();
  server = await startServer({ CORS_ALLOWED_ORIGINS: page.origin });
  const created = await graphql(
    server.url,
    'mutation { createPlan(input: {userId: 7, name: "Fibre 1G", connectionType: PPPOE, priceCents: 4999, durationMinutes: 43200}) { id } }',
    {},
    server.token,
  );
  assert.equal(created.errors, undefined, JSON.stringify(created));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await page?.close();
});

/** A `fetch` that records each request's method, URL and parsed body. */
function recordingFetch() {
  const sent = [];
  const fetchRecorded = async (url, options = {}) => {
    const method = options.method ?? 'GET';
    sent.push({
      method,
      url: new URL(url),
      body: typeof options.body === 'string' ? JSON.parse(options.body) : undefined,
    });
    return fetch(url, options);
  };
  return { fetch: fetchRecorded, sent };
}

const PLANS = plansQuery('PlansOfUser');

/** A query for the plans of a user; each test names its own, so it has a hash of its own. */
function plansQuery(name) {
  return gql(`
    query ${name}($userId: Int) {
      plans(userId: $userId) {
        id
        name
      }
    }
  `);
}

function apollo(link) {
  return new ApolloClient({
    link,
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'network-only' } },
  });
}

test('Apollo Client, HttpLink: queries and a mutation with the admin token', async () => {
  const client = apollo(new HttpLink({ uri: `${server.url}/graphql` }));
  const { data } = await client.query({ query: PLANS, variables: { userId: 7 } });
  assert.deepEqual(
    data.plans.map((plan) => plan.name),
    ['Fibre 1G'],
  );
  const created = await client.mutate({
    mutation: gql`
      mutation Create($input: CreatePlanInput!) {
        createPlan(input: $input) {
          id
          name
        }
      }
    `,
    variables: {
      input: { userId: 8, name: 'ADSL', connectionType: 'STATIC', priceCents: 999, durationMinutes: 60 },
    },
    context: { headers: { authorization: `Bearer ${server.token}` } },
  });
  assert.equal(created.data.createPlan.name, 'ADSL');
});

for (const useGETForHashedQueries of [false, true]) {
  const method = useGETForHashedQueries ? 'GET' : 'POST';
  test(`Apollo Client, persisted-queries link by ${method}: hash, then query once, then hash alone`, async () => {
    const { fetch, sent } = recordingFetch();
    const link = () =>
      createPersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
        new HttpLink({ uri: `${server.url}/graphql`, fetch }),
      );
    // A document of its own, so the other test's registration cannot answer it.
    const name = `PersistedBy${method}`;
    const query = plansQuery(name);
    const variables = { userId: 7 };
    const first = await apollo(link()).query({ query, variables });
    assert.equal(first.errors, undefined);
    // The hash alone (unknown: PERSISTED_QUERY_NOT_FOUND), then the query with its hash (POST).
    assert.equal(sent.length, 2, JSON.stringify(sent));
    assert.equal(sent[0].method, method);
    const hashOnly = sent[0].body ?? {
      query: sent[0].url.searchParams.get('query') ?? undefined,
      extensions: JSON.parse(sent[0].url.searchParams.get('extensions')),
    };
    assert.equal(hashOnly.query, undefined);
    assert.equal(hashOnly.extensions.persistedQuery.version, 1);
    assert.equal(sent[1].method, 'POST');
    assert.ok(sent[1].body.query.includes(name));

    // A new client (an empty Apollo cache): the hash alone is enough now, and answered.
    sent.length = 0;
    for (let i = 0; i < 2; i += 1) {
      const again = await apollo(link()).query({ query, variables });
      assert.deepEqual(again.data, first.data);
    }
    assert.equal(sent.length, 2, JSON.stringify(sent));
    for (const request of sent) {
      assert.equal(request.method, method);
      assert.equal(request.body?.query, undefined);
      assert.equal(request.url.searchParams.get('query'), null);
    }
  });
}

test('Apollo Client, BatchHttpLink: two queries in one POST, answered in order', async () => {
  const { fetch, sent } = recordingFetch();
  const client = apollo(new BatchHttpLink({ uri: `${server.url}/graphql`, batchInterval: 20, fetch }));
  const [seven, eight] = await Promise.all([
    client.query({ query: PLANS, variables: { userId: 7 } }),
    client.query({ query: PLANS, variables: { userId: 8 } }),
  ]);
  assert.deepEqual(
    seven.data.plans.map((plan) => plan.name),
    ['Fibre 1G'],
  );
  assert.deepEqual(
    eight.data.plans.map((plan) => plan.name),
    ['ADSL'],
  );
  assert.equal(sent.length, 1);
  assert.ok(Array.isArray(sent[0].body));
  assert.equal(sent[0].body.length, 2);
});

for (const preferGetForPersistedQueries of [false, true]) {
  const method = preferGetForPersistedQueries ? 'GET' : 'POST';
  test(`urql, persisted exchange by ${method}: hash, then query once (miss: true), then hash alone`, async () => {
    const { fetch, sent } = recordingFetch();
    const client = () =>
      new Client({
        url: `${server.url}/graphql`,
        fetch,
        requestPolicy: 'network-only',
        exchanges: [
          persistedExchange({ preferGetForPersistedQueries, generateHash: async (query) => sha256(query) }),
          fetchExchange,
        ],
      });
    const query = urqlGql(`
      query UrqlPlansBy${method}($userId: Int) {
        plans(userId: $userId) {
          id
          name
        }
      }
    `);
    const variables = { userId: preferGetForPersistedQueries ? 7 : 8 };
    const first = await client().query(query, variables).toPromise();
    assert.equal(first.error, undefined, String(first.error));
    assert.equal(first.data.plans.length, 1);
    assert.equal(sent.length, 2, JSON.stringify(sent));
    assert.equal(sent[0].method, method);
    const again = await client().query(query, variables).toPromise();
    assert.deepEqual(again.data, first.data);
    assert.equal(sent.length, 3);
    assert.equal(sent[2].method, method);
    assert.equal(sent[2].body?.query, undefined);
  });
}

test('graphql-request: a request, and batchRequests answered in order', async () => {
  const one = await graphqlRequest(`${server.url}/graphql`, 'query One($userId: Int) { plans(userId: $userId) { name } }', {
    userId: 7,
  });
  assert.deepEqual(one.plans, [{ name: 'Fibre 1G' }]);
  const batch = await batchRequests(`${server.url}/graphql`, [
    { document: 'query B1($userId: Int) { plans(userId: $userId) { name } }', variables: { userId: 7 } },
    { document: 'query B2($userId: Int) { plans(userId: $userId) { name } }', variables: { userId: 8 } },
  ]);
  assert.deepEqual(
    batch.map((result) => result.data.plans[0].name),
    ['Fibre 1G', 'ADSL'],
  );
});

test('Apollo Client in Chromium on another origin, with client awareness: the preflight allows its headers', async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const tab = await browser.newPage();
  const headersSent = [];
  tab.on('request', (request) => {
    if (request.url().startsWith(server.url)) headersSent.push(request.headers());
  });
  await tab.goto(page.origin);
  const result = await tab.evaluate(async (api) => {
    const { ApolloClient, InMemoryCache, HttpLink, gql } = window.Apollo;
    const client = new ApolloClient({
      link: new HttpLink({ uri: `${api}/graphql` }),
      cache: new InMemoryCache(),
      name: 'plans-portal',
      version: '1.2.3',
    });
    try {
      const { data } = await client.query({ query: gql`query Names { plans { name } }` });
      return { names: data.plans.map((plan) => plan.name) };
    } catch (err) {
      return { error: String(err) };
    }
  }, server.url);
  assert.equal(result.error, undefined, result.error);
  assert.ok(result.names.includes('Fibre 1G'), JSON.stringify(result));
  assert.ok(
    headersSent.some(
      (headers) =>
        headers['apollographql-client-name'] === 'plans-portal' && headers['apollographql-client-version'] === '1.2.3',
    ),
    JSON.stringify(headersSent),
  );
});

/** A page on another origin (another port) that loads Apollo Client, bundled for the browser. */
async function startPageServer() {
  const bundle = await esbuild.build({
    stdin: {
      contents: "export { ApolloClient, InMemoryCache, HttpLink, gql } from '@apollo/client/core';",
      resolveDir: HERE,
    },
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'Apollo',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"', 'globalThis.__DEV__': 'false' },
    logLevel: 'error',
  });
  const script = bundle.outputFiles[0].text;
  const http = createServer((request, response) => {
    if (request.url === '/apollo.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(script);
    } else {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<!doctype html><title>portal</title><script src="/apollo.js"></script>');
    }
  });
  await new Promise((ready) => http.listen(0, '127.0.0.1', ready));
  return {
    origin: `http://127.0.0.1:${http.address().port}`,
    close: () => new Promise((closed) => http.close(closed)),
  };
}
