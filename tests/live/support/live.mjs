// The live stack on loopback (sample upstream <- service with a Telnyx webhook key), Telnyx-signed
// webhook deliveries, and an inbox that turns a client's callbacks into awaitable messages.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { sleep, startSampleUpstream, startService } from '../../support/processes.mjs';
import { SAMPLE_API_KEY, graphql, rest } from '../../support/sample.mjs';


export const ids = {
  /** The sample's all-hands room; its session below is active. */
  ROOM: '3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f',
  SESSION: 'ac71ee5e-5e55-4a1c-9b0d-1e2f3a4b5c6d',
  /** A well-formed UUID that no sample room has. */
  UNKNOWN_ROOM: '00000000-0000-4000-8000-00000000dead',
};

/**
 * An Ed25519 key pair standing in for the Telnyx account's webhook key: `publicKey` is what the
 * portal shows (base64 of the raw 32 bytes), the service's `TELNYX_PUBLIC_KEY`.
 */
export function telnyxKeyPair() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  assert.equal(raw.length, 32);
  return { publicKey: raw.toString('base64'), privateKey };
}

/**
 * Starts the sample upstream and the service with a fresh webhook key (sharing live events
 * through `redisUrl` if given); returns the URLs, `deliver(event)` (a signed
 * `POST /webhooks/telnyx`), `replica()` (another instance, for a fleet), `restart()` (the
 * service stopped and started again on its port) and `stop()` (call it from `after`).
 */
export async function startLiveStack({ redisUrl } = {}) {
  const { publicKey, privateKey } = telnyxKeyPair();
  const upstream = await startSampleUpstream();
  const env = { TELNYX_PUBLIC_KEY: publicKey, ...(redisUrl && { REDIS_URL: redisUrl }) };
  const start = (port) => startService({ upstreamBaseUrl: upstream.baseUrl, apiKey: SAMPLE_API_KEY, env, port });
  let service;
  try {
    service = await start();
  } catch (error) {
    await upstream.stop();
    throw error;
  }
  const replicas = [];
  return {
    upstreamBaseUrl: upstream.baseUrl,
    baseUrl: service.baseUrl,
    graphqlUrl: service.graphqlUrl,
    wsUrl: service.wsUrl,
    get service() {
      return service;
    },
    /** Delivers `event` (an envelope object) as Telnyx does; resolves with status and body. */
    deliver: (event) => deliverSigned(service.baseUrl, privateKey, event),
    /** Another instance with the same settings; `deliver(event)` posts to it. */
    async replica() {
      const other = await start();
      replicas.push(other);
      return { ...other, deliver: (event) => deliverSigned(other.baseUrl, privateKey, event) };
    },
    /** Stops the service (SIGTERM, as a rolling restart does) and starts it again on its port. */
    async restart({ whileDown = async () => {} } = {}) {
      const port = new URL(service.baseUrl).port;
      await service.stop();
      await whileDown();
      service = await start(Number(port));
    },
    async stop() {
      const results = await Promise.allSettled([service.stop(), upstream.stop(), ...replicas.map((r) => r.stop())]);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}

/** POSTs `event` to `<baseUrl>/webhooks/telnyx`, signed over `{timestamp}|{raw body}`. */
export async function deliverSigned(baseUrl, privateKey, event) {
  const body = Buffer.from(JSON.stringify(event));
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = crypto.sign(null, Buffer.concat([Buffer.from(`${timestamp}|`), body]), privateKey);
  const response = await fetch(`${baseUrl}/webhooks/telnyx`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'telnyx-signature-ed25519': signature.toString('base64'),
      'telnyx-timestamp': timestamp,
    },
    body,
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

/** Delivers and asserts that the service took it (2xx), returning its answer. */
export async function deliverOk(stack, event) {
  const answer = await stack.deliver(event);
  assert.equal(answer.status, 200, `webhook ${event.data.id}: ${JSON.stringify(answer)}`);
  return answer;
}

/** A Telnyx webhook envelope (see shared/telnyx/webhooks.md). */
export function envelope(eventType, id, occurredAt, payload) {
  return {
    data: { record_type: 'event', event_type: eventType, id, occurred_at: occurredAt, payload },
    meta: { attempt: 1, delivered_to: 'http://127.0.0.1/webhooks/telnyx' },
  };
}

export const events = {
  joined: (id, { participantId, context, occurredAt, roomId = ids.ROOM, sessionId = ids.SESSION }) =>
    envelope('video.room.participant.joined', id, occurredAt, {
      room_id: roomId,
      session_id: sessionId,
      participant_id: participantId,
      context,
    }),
  left: (id, { participantId, context, occurredAt, durationSecs, leftReason, roomId = ids.ROOM, sessionId = ids.SESSION }) =>
    envelope('video.room.participant.left', id, occurredAt, {
      room_id: roomId,
      session_id: sessionId,
      participant_id: participantId,
      context,
      duration_secs: durationSecs,
      left_reason: leftReason,
    }),
  sessionStarted: (id, { occurredAt, roomId = ids.ROOM, sessionId = ids.SESSION }) =>
    envelope('video.room.session.started', id, occurredAt, { room_id: roomId, session_id: sessionId }),
  sessionEnded: (id, { occurredAt, durationSecs, endedReason, roomId = ids.ROOM, sessionId = ids.SESSION }) =>
    envelope('video.room.session.ended', id, occurredAt, {
      room_id: roomId,
      session_id: sessionId,
      duration_secs: durationSecs,
      ended_reason: endedReason,
    }),
};

let unique = 0;
/** An event id no other delivery of this run has (ids are deduplicated for a day). */
export function eventId(label) {
  unique += 1;
  return `${label}-${process.pid}-${Date.now()}-${unique}`;
}

/** Probe events (session started in the sample session) carry ids with this prefix. */
export const PROBE = 'probe-';

export function isProbeId(id) {
  return typeof id === 'string' && id.startsWith(PROBE);
}

/**
 * Waits until a subscription is live: a subscription is registered with the service's fan-out
 * only once its room or session lookup is done, so this delivers probe events (a session
 * starting in the sample room and session, which both `roomEvents` and `roomSessionEvents`
 * hear) until `sawProbe()` says one arrived. Each probe has a fresh id; probes sent before the
 * subscription was live are simply never seen.
 */
export async function untilLive(stack, sawProbe, { timeoutMs = 10_000, roomId = ids.ROOM, sessionId = ids.SESSION } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 50; ; wait = Math.min(wait * 2, 400)) {
    await deliverOk(stack, events.sessionStarted(eventId(`${PROBE}live`), { occurredAt: new Date().toISOString(), roomId, sessionId }));
    const until = Date.now() + wait;
    while (Date.now() < until) {
      if (sawProbe()) return;
      await sleep(10);
    }
    if (sawProbe()) return;
    assert.ok(Date.now() < deadline, `no probe event reached the subscriber within ${timeoutMs} ms`);
  }
}

/**
 * Collects what a subscription client reports (`next` results, an `error`, `complete`) and hands
 * them out in order. Results whose event id is a probe's are counted in `probes` and skipped.
 */
export class Inbox {
  /** `eventOf(result)` picks the event object out of a `next` result (for its id). */
  constructor(eventOf) {
    this.eventOf = eventOf;
    this.items = [];
    this.probes = 0;
    this.waiters = [];
  }

  /** A sink for graphql-ws's and graphql-sse's `subscribe(payload, sink)`. */
  get sink() {
    return {
      next: (value) => this.push({ type: 'next', value }),
      error: (error) => this.push({ type: 'error', error }),
      complete: () => this.push({ type: 'complete' }),
    };
  }

  push(item) {
    if (item.type === 'next' && isProbeId(this.eventOf(item.value)?.id)) {
      this.probes += 1;
    } else {
      this.items.push(item);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next message that is not a probe; fails after `timeoutMs`. */
  async next(timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `no message within ${timeoutMs} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.items.shift();
  }

  /** The next message, which must be a `next` with no errors; returns the event. */
  async nextEvent(timeoutMs) {
    const item = await this.next(timeoutMs);
    assert.equal(item.type, 'next', `expected a result, got ${describe(item)}`);
    assert.equal(item.value.errors, undefined, `the result has errors: ${JSON.stringify(item.value)}`);
    return this.eventOf(item.value);
  }

  /** Whether a probe arrived; throws if the operation failed or ended instead. */
  live() {
    const ended = this.items.find((item) => item.type !== 'next' || item.value.errors !== undefined);
    assert.equal(ended, undefined, `the operation ended before it was live: ${ended && describe(ended)}`);
    return this.probes > 0;
  }

  /** Asserts that nothing but probes arrived so far. */
  assertEmpty() {
    assert.deepEqual(this.items.map(describe), [], 'no further messages');
  }
}

export function describe(item) {
  if (item.type === 'next') return `next ${JSON.stringify(item.value)}`;
  if (item.type === 'error') return `error ${inspectError(item.error)}`;
  return item.type;
}

function inspectError(error) {
  if (Array.isArray(error)) return JSON.stringify(error);
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (error && typeof error === 'object' && 'code' in error) return `close ${error.code} ${error.reason}`;
  return String(error);
}

/** The sample session's participants in the upstream's order (when they joined). */
export async function sessionParticipants(baseUrl, sessionId = ids.SESSION) {
  const body = await rest(baseUrl, `/room_sessions/${sessionId}/participants?page[size]=250&page[number]=1`);
  assert.equal(body.data.length, body.meta.total_results, 'one page holds them all');
  return body.data;
}

/** `live_subscriptions` and `live_connections` from the service's `/metrics`. */
export async function liveGauges(baseUrl) {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const gauge = (name) => {
    const match = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
    return match ? Number(match[1]) : 0;
  };
  return { subscriptions: gauge('live_subscriptions'), connections: gauge('live_connections') };
}

/** Polls `liveGauges` until `predicate` holds (streams are released asynchronously). */
export async function untilGauges(baseUrl, predicate, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gauges = await liveGauges(baseUrl);
    if (predicate(gauges)) return gauges;
    assert.ok(Date.now() < deadline, `gauges stayed ${JSON.stringify(gauges)}`);
    await sleep(25);
  }
}

export { SAMPLE_API_KEY, graphql, rest, sleep };
