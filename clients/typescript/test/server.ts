// Starts the real plans-api binary (built by `cargo build`) on a free port with a temporary
// SQLite database (or the `DATABASE_URL` given, e.g. a PostgreSQL database from
// `createPostgresDatabase` that replicas share) and a known admin token, and waits until
// /health/ready says 200.
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface Server {
  /** The GraphQL endpoint. */
  url: string;
  token: string;
  /** The server's `JWT_SECRET` (HS256), for minting operators' tokens. */
  jwtSecret: string;
  stop(): Promise<void>;
}

/** The trusted documents manifest codegen writes. */
export const MANIFEST = join(REPO, 'clients', 'typescript', 'src', 'gql', 'persisted-documents.json');

/** `env`: more of the server's environment, e.g. `{ TRUSTED_DOCUMENTS: 'require' }`. */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const binary = process.env.PLANS_API_BIN ?? join(REPO, 'target', 'debug', 'plans-api');
  if (!existsSync(binary)) {
    throw new Error(`${binary} does not exist: run \`cargo build\` first (or set PLANS_API_BIN)`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'plans-api-ts-client-'));
  const token = `ts-${randomBytes(12).toString('hex')}`;
  const jwtSecret = randomBytes(32).toString('hex');
  const child = spawn(binary, [], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: `sqlite://${join(dir, 'plans.db')}?mode=rwc`,
      BIND_ADDR: '127.0.0.1:0',
      ADMIN_TOKEN: token,
      JWT_SECRET: jwtSecret,
      RUST_LOG: 'info',
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  const exit = new Promise<void>((done) =>
    child.on('exit', () => {
      exited = true;
      done();
    }),
  );
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 60_000;
    let base: string | undefined;
    while (base === undefined) {
      base = /GraphiQL at (http:\/\/[^\s/]+)\/graphql/.exec(output)?.[1];
      if (exited) throw new Error('it exited');
      if (Date.now() > deadline) throw new Error('no "listening" line within 60 s');
      if (base === undefined) await sleep(50);
    }
    while ((await fetch(`${base}/health/ready`).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline) throw new Error('/health/ready did not say 200 within 60 s');
      await sleep(100);
    }
    return { url: `${base}/graphql`, token, jwtSecret, stop };
  } catch (err) {
    await stop();
    throw new Error(`plans-api did not start: ${(err as Error).message}\n--- its output ---\n${output}`);
  }
}

/** An HS256 JWT for `operator`, signed with `secret`, valid for `ttlSeconds`. */
export function operatorToken(secret: string, operator: number, ttlSeconds = 600): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({
    operator_id: operator,
    iat: now,
    exp: now + ttlSeconds,
  })}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** A PostgreSQL database of a test's own, for replicas to share; `drop` removes it. */
export interface PostgresDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * Creates a database on the PostgreSQL of `TEST_DATABASE_URL` (default
 * `postgres://postgres@127.0.0.1:5432/test`) with `psql`. Resolves to a reason to skip when that
 * PostgreSQL cannot be reached, except under `CI=true`, where that is a failure.
 */
export async function createPostgresDatabase(): Promise<PostgresDatabase | string> {
  const admin = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `plans_ts_client_${randomBytes(6).toString('hex')}`;
  const psql = (sql: string) =>
    new Promise<void>((done, fail) =>
      execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', admin, '-c', sql], (err, _stdout, stderr) =>
        err ? fail(new Error(`psql ${admin} -c '${sql}': ${stderr || err.message}`)) : done(),
      ),
    );
  try {
    await psql(`CREATE DATABASE ${name}`);
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    return `no PostgreSQL for the replicas (set TEST_DATABASE_URL): ${(err as Error).message.trim()}`;
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}
