// Starts the real plans-api binary for a test: a temporary SQLite database (or, with
// `{ postgres: true }`, a fresh schema in the PostgreSQL at TEST_DATABASE_URL, dropped at stop),
// a known admin token, port 0 (the address is read from its log), and waits until /health/ready
// says 200.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The binary `cargo build` made; PLANS_API_BIN overrides it. */
function binary() {
  const path = process.env.PLANS_API_BIN ?? join(REPO, 'target', 'debug', 'plans-api');
  if (!existsSync(path)) {
    throw new Error(`${path} does not exist: run \`cargo build\` first (or set PLANS_API_BIN)`);
  }
  return path;
}

/** The PostgreSQL the tests may create schemas in (CI sets it); undefined: SQLite only. */
export const POSTGRES_URL = process.env.TEST_DATABASE_URL;

/** Runs one SQL command with psql (no Node PostgreSQL driver needed). */
function psql(url, sql) {
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql], { stdio: 'pipe' });
}

/**
 * @param {Record<string, string>} env extra environment, e.g. { HTTP_CACHE_MAX_AGE: '30' }
 * @param {{ postgres?: boolean }} options `postgres`: a fresh schema in TEST_DATABASE_URL
 * @returns {Promise<{ url: string, token: string, logs: () => string, stop: () => Promise<void> }>}
 */
export async function startServer(env = {}, { postgres = false } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'plans-api-e2e-'));
  const token = env.ADMIN_TOKEN ?? `e2e-${randomBytes(12).toString('hex')}`;
  let databaseUrl = `sqlite://${join(dir, 'plans.db')}?mode=rwc`;
  let schema;
  if (postgres) {
    if (!POSTGRES_URL) throw new Error('a PostgreSQL test needs TEST_DATABASE_URL');
    schema = `e2e_${randomBytes(6).toString('hex')}`;
    psql(POSTGRES_URL, `CREATE SCHEMA ${schema}`);
    const separator = POSTGRES_URL.includes('?') ? '&' : '?';
    databaseUrl = `${POSTGRES_URL}${separator}options=-c%20search_path%3D${schema}`;
  }
  const child = spawn(binary(), [], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: databaseUrl,
      BIND_ADDR: '127.0.0.1:0',
      ADMIN_TOKEN: token,
      RUST_LOG: 'info',
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolveExit) => child.on('exit', resolveExit));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
    if (schema) {
      psql(POSTGRES_URL, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      schema = undefined;
    }
  };

  try {
    const url = await waitForAddress(() => output, exited);
    await waitForReady(url);
    return { url, token, logs: () => output, stop };
  } catch (err) {
    await stop();
    throw new Error(`plans-api did not start: ${err.message}\n--- its output ---\n${output}`);
  }
}

async function waitForAddress(output, exited) {
  let gone = false;
  exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const match = output().match(/GraphiQL at (http:\/\/[^\s/]+)\/graphql/);
    if (match) return match[1];
    if (gone) throw new Error('it exited');
    await new Promise((wake) => setTimeout(wake, 50));
  }
  throw new Error('no "listening" line within 60 s');
}

async function waitForReady(url) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/health/ready`);
      if (response.status === 200) return;
    } catch {
      // not accepting connections yet
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error('/health/ready did not say 200 within 60 s');
}

/** POSTs a GraphQL request (with the admin token when given); returns the parsed body. */
export async function graphql(url, query, variables = {}, token = undefined) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}
