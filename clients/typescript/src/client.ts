// A small typed client for plans-api: sends the generated typed documents (src/gql/) with fetch,
// following the GraphQL-over-HTTP conventions the server implements.
import type { TypedDocumentString } from './gql/graphql.js';

/** A GraphQL error as plans-api sends it: every error has `extensions.code`. */
export interface PlansApiGraphQLError {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions: {
    /** `BAD_USER_INPUT`, `UNAUTHENTICATED`, `FORBIDDEN`, `INTERNAL_SERVER_ERROR`, `BAD_REQUEST`, … */
    code: string;
    /** For `BAD_USER_INPUT`: which input field, e.g. `input.name`. */
    field?: string;
    [key: string]: unknown;
  };
}

/** The server answered with errors (or not with GraphQL at all). */
export class PlansApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status. */
    readonly status: number,
    readonly errors: readonly PlansApiGraphQLError[],
    /** The request id the server logged this request under (header `x-request-id`). */
    readonly requestId: string | null,
  ) {
    super(message);
    this.name = 'PlansApiError';
  }

  /** The code of the first error, e.g. `UNAUTHENTICATED`. */
  get code(): string | undefined {
    return this.errors[0]?.extensions.code;
  }
}

/**
 * The credential to send as `Authorization: Bearer <token>`: the admin token or an operator's
 * JWT, or a function that returns the current one (called before every request, so an expiring
 * JWT can be refreshed; `undefined` sends no credential).
 */
export type PlansApiToken = string | (() => string | undefined | Promise<string | undefined>);

export interface PlansApiClientOptions {
  /** The GraphQL endpoint, e.g. `https://plans.example.com/graphql`. */
  url: string;
  /** The credential for mutations (and reads, if the server has `READ_ACCESS=authenticated`). */
  token?: PlansApiToken;
  /**
   * Send queries as `GET /graphql?query=…`, which browsers and CDNs can cache (the server says
   * how long with `Cache-Control`). Mutations always go by POST.
   */
  queriesByGet?: boolean;
  /**
   * Name each generated document by its `documentId` (`sha256:<hex>`, from the trusted documents
   * manifest `src/gql/persisted-documents.json`) instead of sending its text: a smaller request,
   * and the only kind a server with `TRUSTED_DOCUMENTS=require` runs. A server that does not know
   * the id (`PERSISTED_QUERY_NOT_FOUND`: no manifest) gets the text once more. Default `true`.
   */
  documentIds?: boolean;
  /**
   * How long, in seconds, to send the newest consistency token received (the `Plans-Consistency`
   * response header, or `extensions.plansConsistency`) as the `Plans-Consistency` header of later
   * requests, so they read this client's own writes on whichever replica answers them. Match the
   * server's `CONSISTENCY_COOKIE_SECONDS`; default `60`. `0` never sends one.
   */
  consistencySeconds?: number;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
}

/** Operations without variables take none; the others require theirs, typed. */
type VariablesArgument<TVariables> =
  Record<string, never> extends TVariables ? [variables?: TVariables] : [variables: TVariables];

const ACCEPT = 'application/graphql-response+json, application/json;q=0.9';
/** The consistency token's request and response header (see `consistencySeconds`). */
const CONSISTENCY_HEADER = 'plans-consistency';

export class PlansApiClient {
  readonly #url: string;
  readonly #token: PlansApiToken | undefined;
  readonly #queriesByGet: boolean;
  readonly #documentIds: boolean;
  readonly #fetch: typeof fetch;
  readonly #consistencyMs: number;
  /** The newest consistency token received, and until when (`Date.now()`) to send it. */
  #consistency: { token: string; until: number } | undefined;

  constructor(options: PlansApiClientOptions) {
    this.#url = options.url;
    this.#token = options.token;
    this.#queriesByGet = options.queriesByGet ?? false;
    this.#documentIds = options.documentIds ?? true;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#consistencyMs = (options.consistencySeconds ?? 60) * 1000;
  }

  /** Runs a generated operation; resolves to its typed `data`, or throws {@link PlansApiError}. */
  async request<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    ...[variables]: VariablesArgument<TVariables>
  ): Promise<TResult> {
    const query = document.toString();
    const hash: unknown = document.__meta__?.['hash'];
    const documentId = this.#documentIds && typeof hash === 'string' ? hash : undefined;
    if (documentId !== undefined) {
      try {
        return await this.#send<TResult>(query, { documentId }, variables);
      } catch (err) {
        // A server without the manifest: send the text.
        if (!(err instanceof PlansApiError && err.code === 'PERSISTED_QUERY_NOT_FOUND')) throw err;
      }
    }
    return this.#send<TResult>(query, { query }, variables);
  }

  /** Sends the document as `named` says (its text, or its id) with `variables`. */
  async #send<TResult>(
    query: string,
    named: { query: string } | { documentId: string },
    variables: unknown,
  ): Promise<TResult> {
    const headers: Record<string, string> = { accept: ACCEPT };
    const token = await this.#bearer();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    this.#sendConsistency(headers);

    let response: Response;
    if (this.#queriesByGet && isQuery(query)) {
      const url = new URL(this.#url);
      for (const [name, value] of Object.entries(named)) url.searchParams.set(name, value);
      if (variables !== undefined) url.searchParams.set('variables', JSON.stringify(variables));
      response = await this.#fetch(url, { method: 'GET', headers });
    } else {
      headers['content-type'] = 'application/json';
      response = await this.#fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ ...named, variables: variables ?? {} }),
      });
    }
    return this.#result<TResult>(response);
  }

  /** The current credential: the token, or what the token function returns now. */
  async #bearer(): Promise<string | undefined> {
    return typeof this.#token === 'function' ? await this.#token() : this.#token;
  }

  /**
   * Subscribes to a generated subscription (e.g. `LivePlansDocument`) over GraphQL over
   * Server-Sent Events (graphql-sse's distinct-connections mode, plain `fetch`): yields the
   * current `data` first, then the new `data` each time it changes. Ends when the server completes
   * the stream (at shutdown); leaving the `for await` loop (or calling `return()` on the
   * iterator) closes the connection.
   *
   * The server ends a subscription when its credential expires (an `UNAUTHENTICATED` error
   * event). With a token function, the client then asks it for a fresh token and subscribes
   * again: the loop goes on, and its next value is the current `data` (possibly equal to the
   * last). With a fixed token, or when the fresh token is refused too, that error is thrown.
   * Throws {@link PlansApiError} for an error event, e.g. code `SUBSCRIPTION_LIMIT`.
   */
  async *subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    ...[variables]: VariablesArgument<TVariables>
  ): AsyncGenerator<TResult, void, undefined> {
    const renewable = typeof this.#token === 'function';
    for (;;) {
      const ended = yield* this.#subscribeOnce<TResult>(document.toString(), variables, renewable);
      if (ended === 'complete') return;
    }
  }

  /**
   * One subscription request. Returns `'lapsed'` when the server ended it because its credential
   * expired after at least one event (and `renewable`), so that the caller subscribes again.
   */
  async *#subscribeOnce<TResult>(
    query: string,
    variables: unknown,
    renewable: boolean,
  ): AsyncGenerator<TResult, 'complete' | 'lapsed', undefined> {
    const abort = new AbortController();
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      'content-type': 'application/json',
    };
    const token = await this.#bearer();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    this.#sendConsistency(headers);
    try {
      const response = await this.#fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables: variables ?? {} }),
        signal: abort.signal,
      });
      const requestId = response.headers.get('x-request-id');
      const isStream = response.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
      if (!response.ok || response.body === null || !isStream) {
        // Refused before any event: a GraphQL error body.
        yield await this.#result<TResult>(response);
        return 'complete';
      }
      let events = 0;
      for await (const event of serverSentEvents(response.body)) {
        if (event.event === 'complete') return 'complete';
        if (event.event !== 'next') continue;
        const body = JSON.parse(event.data) as { data?: TResult | null; errors?: PlansApiGraphQLError[] };
        if (body.errors !== undefined && body.errors.length > 0) {
          const [first] = body.errors;
          // The credential expired: renew it (once per subscription that got somewhere).
          if (renewable && events > 0 && first?.extensions.code === 'UNAUTHENTICATED') return 'lapsed';
          throw new PlansApiError(
            `${first?.extensions.code ?? 'ERROR'}: ${first?.message ?? 'unknown error'}`,
            response.status,
            body.errors,
            requestId,
          );
        }
        if (body.data !== undefined && body.data !== null) {
          events += 1;
          yield body.data;
        }
      }
      return 'complete';
    } finally {
      abort.abort();
    }
  }

  /** Adds the newest consistency token to a request's headers while it is within its lifetime. */
  #sendConsistency(headers: Record<string, string>): void {
    if (this.#consistency === undefined) return;
    if (Date.now() < this.#consistency.until) headers[CONSISTENCY_HEADER] = this.#consistency.token;
    else this.#consistency = undefined;
  }

  /** Remembers a response's consistency token (the header, else the body's extension), if any. */
  #receiveConsistency(response: Response, extensions: Record<string, unknown> | undefined): void {
    const token = response.headers.get(CONSISTENCY_HEADER) ?? extensions?.['plansConsistency'];
    if (typeof token === 'string' && token !== '' && this.#consistencyMs > 0) {
      this.#consistency = { token, until: Date.now() + this.#consistencyMs };
    }
  }

  async #result<TResult>(response: Response): Promise<TResult> {
    const requestId = response.headers.get('x-request-id');
    let body: { data?: TResult | null; errors?: PlansApiGraphQLError[]; extensions?: Record<string, unknown> };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      this.#receiveConsistency(response, undefined);
      throw new PlansApiError(
        `plans-api answered ${response.status} without a GraphQL response`,
        response.status,
        [],
        requestId,
      );
    }
    // Before any error is thrown: a response with errors may still have written.
    this.#receiveConsistency(response, body.extensions);
    if (body.errors !== undefined && body.errors.length > 0) {
      const [first] = body.errors;
      throw new PlansApiError(
        `${first?.extensions.code ?? 'ERROR'}: ${first?.message ?? 'unknown error'}`,
        response.status,
        body.errors,
        requestId,
      );
    }
    if (!response.ok || body.data === undefined || body.data === null) {
      throw new PlansApiError(`plans-api answered ${response.status} without data`, response.status, [], requestId);
    }
    return body.data;
  }
}

/** The events of a `text/event-stream` body (`event:` and `data:` fields; comments skipped). */
async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<{ event: string; data: string }, void, undefined> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length > 0 || event !== 'message') yield { event, data: data.join('\n') };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Whether a generated document's operation is a query (generated documents start with it). */
function isQuery(document: string): boolean {
  return /^\s*(query\b|\{)/.test(document);
}
