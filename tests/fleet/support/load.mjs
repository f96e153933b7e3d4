// Steady load through the load balancer, as a fleet sees it in production: queries, mutations,
// signed webhooks, one caller over its rate limit, and resuming subscribers. Each part records
// what it saw, so a test can say exactly what failed and when.

import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

import { deliverSigned, eventId, events, ids, isProbeId, PROBE } from '../../live/support/live.mjs';
import { sleep } from '../../support/processes.mjs';
import { resumingSseSubscribe, resumingWsClient } from '../../support/resuming.mjs';
import { SAMPLE_API_KEY } from '../../support/sample.mjs';

const QUERY = /* GraphQL */ `
  query Load($id: ID!) { roomSession(id: $id) { participants(first: 5) { totalCount nodes { id } } } }
`;
const CREATE = /* GraphQL */ `
  mutation Create($name: String!) { createRoom(input: { uniqueName: $name, maxParticipants: 2 }) { room { id uniqueName } } }
`;
const EVENTS = /* GraphQL */ `
  subscription Events($roomId: ID!) { roomEvents(roomId: $roomId) { id cursor } }
`;
const authorization = `Bearer ${SAMPLE_API_KEY}`;

/** One GraphQL POST: `{ ok, status, latencyMs, at, failure }`, never throwing. */
async function post(url, body, headers = {}) {
  const started = performance.now();
  const at = Date.now();
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    const latencyMs = performance.now() - started;
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, status: response.status, latencyMs, at, failure: `${response.status}: ${text.slice(0, 200)}` };
    }
    const ok = response.status === 200 && !json.errors;
    const failure = ok ? undefined : `${response.status}: ${JSON.stringify(json.errors ?? json).slice(0, 300)}`;
    return { ok, status: response.status, latencyMs, at, json, failure };
  } catch (error) {
    return { ok: false, status: 0, latencyMs: performance.now() - started, at, failure: `${error.cause?.code ?? error.message}` };
  }
}

/** Runs `step` every `everyMs` (less the time it took) until stopped. */
function every(everyMs, step) {
  let running = true;
  const done = (async () => {
    for (let n = 0; running; n += 1) {
      const started = performance.now();
      await step(n);
      await sleep(Math.max(0, everyMs - (performance.now() - started)));
    }
  })();
  return async () => {
    running = false;
    await done;
  };
}

/**
 * Starts the load against `url` (the load balancer): `workers` query loops, one mutation loop,
 * one webhook loop (retrying each delivery until a 2xx, as Telnyx does), and one caller sending
 * `limitedPerSecond` requests a second from its own address. `stop()` ends them and returns
 * what each saw.
 */
export function startLoad(url, privateKey, { workers = 4, limitedPerSecond = 40 } = {}) {
  const queries = [];
  const mutations = [];
  const webhooks = { answered: [], attempts: 0, failures: [] };
  const limited = { accepted: 0, refused: 0, other: [], startedAt: Date.now() };
  const stops = [];
  for (let w = 0; w < workers; w += 1) {
    // Each request from another address: these callers stay within CALLER_RATE_LIMIT.
    stops.push(every(50, async (n) => {
      const forwardedFor = `198.51.${w}.${n % 250}`;
      queries.push(await post(url, { query: QUERY, variables: { id: ids.SESSION } }, { 'x-forwarded-for': forwardedFor }));
    }));
  }
  stops.push(every(200, async (n) => {
    const name = `fleet-${process.pid}-${Date.now()}-${n}`;
    const result = await post(url, { query: CREATE, variables: { name } }, { 'x-forwarded-for': `198.51.200.${n % 250}` });
    mutations.push({ ...result, name });
  }));
  stops.push(every(50, async () => {
    const id = eventId('fleet');
    const event = events.joined(id, { participantId: ids.ROOM, context: 'fleet', occurredAt: new Date().toISOString() });
    for (;;) {
      webhooks.attempts += 1;
      const answer = await deliverSigned(url, privateKey, event).catch((error) => ({ status: 0, body: `${error.cause?.code ?? error.message}` }));
      if (answer.status >= 200 && answer.status < 300) break;
      webhooks.failures.push({ id, status: answer.status, body: answer.body, at: Date.now() });
      await sleep(100);
    }
    webhooks.answered.push(id);
  }));
  stops.push(every(1000 / limitedPerSecond, async () => {
    const result = await post(url, { query: '{ __typename }' }, { 'x-forwarded-for': '203.0.113.99' });
    if (result.ok) limited.accepted += 1;
    else if (result.status === 429) limited.refused += 1;
    else limited.other.push(result);
  }));
  return {
    queries,
    mutations,
    webhooks,
    async stop() {
      await Promise.all(stops.map((stop) => stop()));
      limited.seconds = (Date.now() - limited.startedAt) / 1000;
      return { queries, mutations, webhooks, limited };
    },
  };
}

/**
 * `count` graphql-ws and `count` graphql-sse subscribers to the sample room's events through
 * `url`, each with docs/live.md's resuming helper; each records the ids it heard (probes aside)
 * and how often it reconnected.
 */
export function startSubscribers(url, count) {
  const subscribers = [];
  const wsUrl = url.replace(/^http/, 'ws') + '/graphql';
  for (let i = 0; i < count; i += 1) {
    const heard = { kind: `graphql-ws ${i}`, ids: [], probes: 0, reconnects: -1, errors: [] };
    const client = resumingWsClient({
      createClient: createWsClient,
      webSocketImpl: WebSocket,
      url: wsUrl,
      authorization,
      on: { connected: () => { heard.reconnects += 1; } },
    });
    const stop = client.subscribe({ query: EVENTS, variables: { roomId: ids.ROOM } }, sink(heard));
    subscribers.push({ heard, stop: async () => { stop(); await client.dispose(); } });
  }
  for (let i = 0; i < count; i += 1) {
    const heard = { kind: `graphql-sse ${i}`, ids: [], probes: 0, reconnects: 0, errors: [] };
    const subscribe = resumingSseSubscribe({
      createClient: createSseClient,
      url: `${url}/graphql`,
      authorization,
      onRetry: () => { heard.reconnects += 1; },
    });
    const stop = subscribe(EVENTS, { roomId: ids.ROOM }, sink(heard));
    subscribers.push({ heard, stop: async () => stop() });
  }
  return subscribers;
}

function sink(heard) {
  return {
    next: (result) => {
      if (result.errors) heard.errors.push(JSON.stringify(result.errors));
      const id = result.data?.roomEvents?.id;
      if (isProbeId(id)) heard.probes += 1;
      else if (id) heard.ids.push(id);
    },
    error: (error) => heard.errors.push(`${error?.message ?? JSON.stringify(error)}`),
    complete: () => heard.errors.push('completed'),
  };
}

/** Delivers probe events through `url` until every subscriber has heard one. */
export async function untilAllLive(url, privateKey, subscribers, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (subscribers.some((s) => s.heard.probes === 0)) {
    if (Date.now() > deadline) throw new Error(`not live: ${subscribers.filter((s) => s.heard.probes === 0).map((s) => s.heard.kind)}`);
    const probe = events.sessionStarted(eventId(`${PROBE}fleet`), { occurredAt: new Date().toISOString() });
    await deliverSigned(url, privateKey, probe);
    await sleep(200);
  }
}

/** Percentile `p` (0-100) of `values`. */
export function percentile(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
