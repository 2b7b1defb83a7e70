// GraphiQL, the way a human uses it: open GET /graphql in a real (headless) Chromium, type a
// mutation with the admin token in the headers editor, run a `plans` query, read the result on the
// page. Saves the screenshot the book shows (docs/src/images/graphiql.png). Reads its own writes
// through the consistency cookie, with nothing set up for it.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { REPO, graphql, startServer } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = join(REPO, 'docs', 'src', 'images', 'graphiql.png');

let server;
let browser;

before(async () => {
  // A fixed token, so the committed screenshot (which shows the headers editor) stays the same.
  server = await startServer({ ADMIN_TOKEN: 'my-admin-token' });
  // launch() gives Chromium a fresh temporary profile (--user-data-dir) of its own.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Sets the text of a GraphiQL editor (CodeMirror 5 keeps its API on the wrapper element). */
async function setEditor(page, selector, text) {
  await page.locator(`${selector} .CodeMirror`).first().waitFor();
  await page.evaluate(
    ([selector, text]) => document.querySelector(`${selector} .CodeMirror`).CodeMirror.setValue(text),
    [selector, text],
  );
}

/**
 * Puts an operation in the query editor. GraphiQL works out the operation name from the text after
 * a short debounce (as when a human types); wait for that, or "run" would send the previous name.
 */
async function setQuery(page, text, operationName) {
  await setEditor(page, '.graphiql-query-editor', text);
  await page.waitForFunction(
    (name) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.operationName === name,
    operationName,
  );
  // Let React render the state that debounce set.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
}

/** Clicks "run" and returns the JSON GraphiQL shows in its result pane once it changes. */
async function run(page) {
  const result = () =>
    page.evaluate(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '');
  const before = await result();
  await page.locator('.graphiql-execute-button').click();
  await page.waitForFunction(
    (before) => {
      const text = document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '';
      return text.trim() !== '' && text !== before;
    },
    before,
    { timeout: 30_000 },
  );
  return JSON.parse(await result());
}

test('GraphiQL runs a plans query and, with the token header, a mutation', async () => {
  for (const [name, type] of [
    ['1 Hour Unlimited', 'HOTSPOT'],
    ['Home Fibre 10 Mbps', 'PPPOE'],
    ['Static IP, monthly', 'STATIC'],
  ]) {
    const body = await graphql(
      server.url,
      'mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }',
      { input: { userId: 1, name, connectionType: type, priceCents: 1000, durationMinutes: 60 } },
      server.token,
    );
    assert.equal(body.errors, undefined, JSON.stringify(body));
  }

  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const problems = [];
  const origin = new URL(server.url).origin;
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`failed: ${request.url()}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`);
  });
  page.on('request', (request) => {
    const url = new URL(request.url());
    // Everything comes from plans-api itself (fonts are data: URLs inside the stylesheet).
    if (url.protocol !== 'data:' && url.origin !== origin) problems.push(`went elsewhere: ${url}`);
  });

  const response = await page.goto(`${server.url}/graphql`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^text\/html/);
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });

  // Without the token, GraphiQL shows the server's UNAUTHENTICATED error.
  const mutation =
    'mutation Create {\n  createPlan(input: {userId: 1, name: "Made in GraphiQL", connectionType: HOTSPOT, priceCents: 2500, durationMinutes: 1440}) {\n    id\n    name\n  }\n}\n';
  await setQuery(page, mutation, 'Create');
  const refused = await run(page);
  assert.equal(refused.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(refused));

  // The headers editor is open by default; the token goes there, as the book (docs/src/clients.md) tells humans to do.
  const headersEditor = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';
  await setEditor(page, headersEditor, JSON.stringify({ Authorization: `Bearer ${server.token}` }, null, 2));
  const created = await run(page);
  assert.equal(created.errors, undefined, JSON.stringify(created));
  assert.equal(created.data.createPlan.name, 'Made in GraphiQL');

  // The query a frontend makes, shown as GraphiQL shows it.
  await setQuery(
    page,
    'query Plans {\n  plans(userId: 1) {\n    id\n    name\n    connectionType\n    priceCents\n    durationMinutes\n  }\n}\n',
    'Plans',
  );
  const listed = await run(page);
  assert.equal(listed.errors, undefined, JSON.stringify(listed));
  assert.deepEqual(
    listed.data.plans.map((plan) => plan.name),
    ['1 Hour Unlimited', 'Home Fibre 10 Mbps', 'Static IP, monthly', 'Made in GraphiQL'],
  );
  assert.deepEqual(listed.data.plans[3], {
    id: created.data.createPlan.id,
    name: 'Made in GraphiQL',
    connectionType: 'HOTSPOT',
    priceCents: 2500,
    durationMinutes: 1440,
  });
  // What the human sees is that result, not just what the fetcher got.
  const shown = await page.locator('.result-window').innerText();
  assert.match(shown, /Made in GraphiQL/);

  // The schema reached GraphiQL too (introspection through the same endpoint): the docs list Query.
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor();
  await page.locator('button[aria-label="Hide Documentation Explorer"]').click();

  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(problems, []);
  await page.close();
});

test('GraphiQL subscribes: the live list, then the list after a write', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.goto(`${server.url}/graphql`);
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
  await setQuery(page, 'subscription Live {\n  plans(userId: 77) {\n    id\n    name\n  }\n}\n', 'Live');
  const first = await run(page);
  assert.deepEqual(first, { data: { plans: [] } });

  const body = await graphql(
    server.url,
    'mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }',
    { input: { userId: 77, name: 'Pushed to GraphiQL', connectionType: 'STATIC', priceCents: 100, durationMinutes: 60 } },
    server.token,
  );
  assert.equal(body.errors, undefined, JSON.stringify(body));
  await page.waitForFunction(
    () => /Pushed to GraphiQL/.test(document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? ''),
    undefined,
    { timeout: 10_000 },
  );
  const shown = JSON.parse(
    await page.evaluate(() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()),
  );
  assert.deepEqual(shown.data.plans, [{ id: body.data.createPlan.id, name: 'Pushed to GraphiQL' }]);
  assert.deepEqual(problems, []);
  await page.close();
});

/** Each outcome's count in `plans_consistency_requests_total`. */
async function consistencyOutcomes(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = { current: 0, waited: 0, database: 0 };
  for (const [, outcome, value] of text.matchAll(/^plans_consistency_requests_total\{[^}]*outcome="(\w+)"[^}]*\} (\S+)$/gm)) {
    counts[outcome] = Number(value);
  }
  return counts;
}

test('GraphiQL reads its own writes through the consistency cookie: the query after a mutation carries it', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  /** The GraphQL POSTs GraphiQL sends, by operation name. */
  const requests = new Map();
  page.on('request', (request) => {
    if (request.method() !== 'POST') return;
    const name = request.postDataJSON()?.operationName;
    if (name) requests.set(name, request);
  });
  await page.goto(`${server.url}/graphql`);
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
  await setEditor(
    page,
    '.graphiql-editor-tool .graphiql-editor:not(.hidden)',
    JSON.stringify({ Authorization: `Bearer ${server.token}` }),
  );

  await setQuery(
    page,
    'mutation CreateThroughCookie {\n  createPlan(input: {userId: 88, name: "Read back through the cookie", connectionType: PPPOE, priceCents: 900, durationMinutes: 60}) {\n    id\n  }\n}\n',
    'CreateThroughCookie',
  );
  const created = await run(page);
  assert.equal(created.errors, undefined, JSON.stringify(created));
  const written = await requests.get('CreateThroughCookie').response();
  const token = written.headers()['plans-consistency'];
  assert.match(token ?? '', /^\S{8,128}$/, 'the mutation response carries Plans-Consistency');
  assert.equal(created.extensions?.plansConsistency, token);
  // The browser kept the cookie; HttpOnly, so no script on the page can read it.
  const [cookie] = (await page.context().cookies(server.url)).filter((c) => c.name === 'plans_consistency');
  assert.equal(cookie?.value, token);
  assert.equal(cookie?.httpOnly, true);
  assert.equal(cookie?.sameSite, 'Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('plans_consistency')), false);

  const before = await consistencyOutcomes(server.url);
  await setQuery(page, 'query ListThroughCookie {\n  plans(userId: 88) {\n    id\n    name\n  }\n}\n', 'ListThroughCookie');
  const listed = await run(page);
  assert.deepEqual(listed, { data: { plans: [{ id: created.data.createPlan.id, name: 'Read back through the cookie' }] } });
  const after = await consistencyOutcomes(server.url);

  // GraphiQL sent no header of its own: the browser sent the cookie, and the server honoured it.
  const read = requests.get('ListThroughCookie');
  assert.equal(await read.headerValue('plans-consistency'), null);
  assert.match((await read.headerValue('cookie')) ?? '', new RegExp(`(^|; )plans_consistency=${token.replace(/\./g, '\\.')}(;|$)`));
  const honoured = after.current + after.waited + after.database - (before.current + before.waited + before.database);
  assert.equal(honoured, 1, `outcomes before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  assert.equal(after.current - before.current, 1, 'one replica: its own write is already there');
  assert.deepEqual(problems, []);
  await page.close();
});
