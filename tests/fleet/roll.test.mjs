import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { telnyxKeyPair } from '../live/support/live.mjs';
import { freePort, sleep, startHaproxy, startRedis, startSampleUpstream, startService } from '../support/processes.mjs';
import { SAMPLE_API_KEY } from '../support/sample.mjs';
import { percentile, startLoad, startSubscribers, untilAllLive } from './support/load.mjs';

// A fleet as it runs in production, all on loopback: three replicas of the release binary
// (SERVICE_BIN) behind a real haproxy (health checks on /ready, WebSockets tunnelled, refused
// connections retried elsewhere), sharing a real redis-server, in front of the sample upstream.
// Under steady load, the replicas are restarted one at a time, as a rolling deploy does, and then
// one is killed with SIGKILL. docs/deploy.md records the figures this prints.

const REPLICAS = 3;
const SUBSCRIBERS = 3; // of each kind: graphql-ws and graphql-sse
// Each caller: 10 requests a second on average, bursts of 10 (see the limited caller below).
const CALLER_RATE_LIMIT = '600/min,burst=10';

describe('a fleet of three behind haproxy', { timeout: 300_000 }, () => {
  let redis;
  let upstream;
  let haproxy;
  let keys;
  const replicas = [];
  let start;

  before(async () => {
    redis = await startRedis();
    upstream = await startSampleUpstream();
    keys = telnyxKeyPair();
    const env = {
      TELNYX_PUBLIC_KEY: keys.publicKey,
      REDIS_URL: redis.url,
      CALLER_RATE_LIMIT,
      // haproxy on loopback appends the client to X-Forwarded-For.
      TRUSTED_PROXIES: '127.0.0.1/32',
    };
    start = (port) => startService({ upstreamBaseUrl: upstream.baseUrl, apiKey: SAMPLE_API_KEY, env, port });
    for (let i = 0; i < REPLICAS; i += 1) replicas.push(await start(await freePort()));
    haproxy = await startHaproxy(replicas.map((r) => new URL(r.baseUrl).host));
  });

  after(async () => {
    await haproxy?.stop();
    await Promise.allSettled(replicas.map((r) => r.stop()));
    await upstream?.stop();
    await redis?.stop();
  });

  /** Waits until haproxy sees every replica UP again. */
  async function untilAllUp(timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await haproxy.states()).every((state) => state === 'UP')) {
      assert.ok(Date.now() < deadline, `haproxy: ${await haproxy.states()}`);
      await sleep(50);
    }
  }

  /** Every subscriber heard exactly the answered webhooks, in order, once. */
  async function assertEveryoneHeardEverything(subscribers, answered) {
    const answeredSet = new Set(answered);
    const deadline = Date.now() + 30_000;
    const heardOf = (s) => s.heard.ids.filter((id) => answeredSet.has(id));
    while (subscribers.some((s) => heardOf(s).length < answered.length) && Date.now() < deadline) await sleep(100);
    for (const s of subscribers) {
      assert.deepEqual(s.heard.errors, [], `${s.heard.kind}: errors`);
      const heard = heardOf(s);
      const missing = answered.filter((id) => !heard.includes(id));
      const twice = heard.filter((id, i) => heard.indexOf(id) !== i);
      assert.deepEqual({ missing, twice }, { missing: [], twice: [] }, `${s.heard.kind}`);
      assert.deepEqual(heard, answered, `${s.heard.kind}: in order`);
    }
  }

  /** Each created room exists exactly once. */
  async function assertNoMutationAppliedTwice(mutations) {
    const response = await fetch(`${upstream.baseUrl}/rooms?page[size]=250&page[number]=1`, {
      headers: { authorization: `Bearer ${SAMPLE_API_KEY}` },
    });
    const pages = [];
    let body = await response.json();
    pages.push(...body.data);
    for (let page = 2; page <= body.meta.total_pages; page += 1) {
      const next = await fetch(`${upstream.baseUrl}/rooms?page[size]=250&page[number]=${page}`, {
        headers: { authorization: `Bearer ${SAMPLE_API_KEY}` },
      });
      pages.push(...(await next.json()).data);
    }
    const names = pages.map((room) => room.unique_name);
    for (const mutation of mutations.filter((m) => m.ok)) {
      assert.equal(names.filter((name) => name === mutation.name).length, 1, `room ${mutation.name}`);
    }
  }

  function summary(label, load, subscribers, window) {
    const during = load.queries.filter((q) => q.at >= window.from && q.at <= window.to).map((q) => q.latencyMs);
    const before = load.queries.filter((q) => q.at < window.from).map((q) => q.latencyMs);
    const figures = {
      scenario: label,
      queries: load.queries.length,
      mutations: load.mutations.length,
      webhooksAnswered: load.webhooks.answered.length,
      webhookRetries: load.webhooks.failures.length,
      reconnects: subscribers.reduce((sum, s) => sum + s.heard.reconnects, 0),
      queryLatencyMsBefore: { p50: percentile(before, 50), p99: percentile(before, 99), max: percentile(before, 100) },
      queryLatencyMsDuring: { p50: percentile(during, 50), p99: percentile(during, 99), max: percentile(during, 100) },
      rollSeconds: (window.to - window.from) / 1000,
      limited: { accepted: load.limited.accepted, refused: load.limited.refused, seconds: load.limited.seconds, failed: load.limited.other.map((r) => `${r.failure} at +${r.at - window.from} ms`) },
    };
    console.log(`FLEET ${JSON.stringify(figures)}`);
    return figures;
  }

  test('a rolling restart under load: nothing fails, nothing is missed or doubled, limits hold', async () => {
    const subscribers = startSubscribers(haproxy.url, SUBSCRIBERS);
    try {
      await untilAllLive(haproxy.url, keys.privateKey, subscribers);
      const load = startLoad(haproxy.url, keys.privateKey);
      await sleep(3_000);

      const from = Date.now();
      const stoppedAt = [];
      for (let i = 0; i < replicas.length; i += 1) {
        const port = Number(new URL(replicas[i].baseUrl).port);
        stoppedAt.push(Date.now() - from);
        const ended = await replicas[i].stop(30_000);
        assert.deepEqual(ended, { code: 0, signal: null }, `replica ${i} exits 0 after its drain`);
        // Down for a while, as while a new pod is scheduled: the others carry its load.
        await sleep(2_000);
        replicas[i] = await start(port);
        await untilAllUp();
        await sleep(2_000);
      }
      const to = Date.now();
      await sleep(2_000);
      const results = await load.stop();
      const figures = summary('rolling restart', results, subscribers, { from, to });

      const failed = [...results.queries, ...results.mutations].filter((r) => !r.ok);
      assert.deepEqual(
        failed.map((r) => `${r.failure} at +${r.at - from} ms`),
        [],
        `no query or mutation failed (SIGTERMs at +${stoppedAt.join(', +')} ms); haproxy logged:\n${haproxy.child.output}`,
      );
      assert.ok(results.queries.length > 500 && results.mutations.length > 30, JSON.stringify(figures));
      // haproxy took each replica out on its /ready 503, before its listener closed, so no
      // request met a refused or reset connection and none had to be retried elsewhere.
      const log = haproxy.child.output.split('\n');
      const downs = log.filter((line) => line.startsWith('Server replicas/') && line.includes(' is DOWN'));
      assert.equal(downs.filter((line) => line.includes('Layer7 wrong status, code: 503')).length, REPLICAS, downs.join('\n'));
      assert.equal(downs.length, REPLICAS, downs.join('\n'));
      const retried = log.filter((line) => /\d+\/\d+\/\d+\/\d+\/\+?[1-9]\d* \d+\/\d+ "/.test(line));
      assert.deepEqual(retried, [], 'requests haproxy retried');
      await assertEveryoneHeardEverything(subscribers, results.webhooks.answered);
      assert.ok(figures.reconnects >= subscribers.length, 'every subscriber moved at least once');
      await assertNoMutationAppliedTwice(results.mutations);
      // Shared through Redis: three replicas together allow one caller 10 a second (plus its
      // burst), not three times that.
      const { accepted, refused, other, seconds } = results.limited;
      assert.deepEqual(other.map((r) => r.failure), [], 'the limited caller got only 200s and 429s');
      assert.ok(refused > 0, 'the limited caller was limited');
      assert.ok(accepted <= 10 + Math.ceil(seconds * 10 * 1.1) + 2, `accepted ${accepted} in ${seconds} s`);
    } finally {
      await Promise.all(subscribers.map((s) => s.stop()));
    }
  });

  test('SIGKILL of one replica mid-load: only its requests in flight may fail, its subscribers resume elsewhere', async () => {
    const subscribers = startSubscribers(haproxy.url, SUBSCRIBERS);
    try {
      await untilAllLive(haproxy.url, keys.privateKey, subscribers);
      const load = startLoad(haproxy.url, keys.privateKey);
      await sleep(3_000);

      const killedAt = Date.now();
      const victim = replicas[1];
      victim.child.process.kill('SIGKILL');
      await victim.child.exited;
      await sleep(5_000);
      const results = await load.stop();
      summary('SIGKILL', results, subscribers, { from: killedAt, to: killedAt + 5_000 });

      // What was in flight on it when it died: at most one request per load loop, each failing
      // at once (nothing hangs), and only around the kill: haproxy answers 502, or, for a
      // request it sent on a reused connection, closes the client's so the client may retry.
      const failed = [...results.queries, ...results.mutations, ...results.limited.other].filter((r) => !r.ok);
      assert.ok(failed.length <= 6, failed.map((r) => r.failure).join('\n'));
      for (const failure of failed) {
        assert.ok([502, 503].includes(failure.status) || failure.failure === 'UND_ERR_SOCKET', failure.failure);
        assert.ok(failure.at <= killedAt + 1_000, `failed ${failure.at - killedAt} ms after the kill: ${failure.failure}`);
      }
      await assertEveryoneHeardEverything(subscribers, results.webhooks.answered);
      await assertNoMutationAppliedTwice(results.mutations);

      replicas[1] = await start(Number(new URL(victim.baseUrl).port));
      await untilAllUp();
    } finally {
      await Promise.all(subscribers.map((s) => s.stop()));
    }
  });
});
