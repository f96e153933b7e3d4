import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

// The live suite's stack and webhooks use Node's standard library only: no `npm ci` there.
import { deliverOk, eventId, events, ids, sleep, startLiveStack } from '../live/support/live.mjs';
import { startRedis } from '../support/processes.mjs';
import { launchChromium } from './support/chromium.mjs';

const SUBSCRIPTION = `subscription { roomEvents(roomId: "${ids.ROOM}") { id cursor } }`;

// A page of the service's own origin opens a plain EventSource on a subscription: no headers
// (it cannot send any; Fetch Metadata admits it), no library. Its replica restarts while
// webhooks reach the other one; Chromium reconnects by itself, sending Last-Event-ID, and the
// page gets exactly the events it missed, in order, once.
describe("Chromium's EventSource resumes by itself through a replica restart", { timeout: 90_000 }, () => {
  let redis;
  let stack;
  let other;
  let browser;
  let page;

  before(async () => {
    redis = await startRedis();
    stack = await startLiveStack({ redisUrl: redis.url });
    other = await stack.replica();
    browser = await launchChromium('event-source');
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
    await redis?.stop();
  });

  /** The ids of the events the page received, in order (probes included). */
  const received = () => page.evaluate(() => window.received.map((event) => event.id));

  async function until(predicate, what, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ids = await received();
      if (predicate(ids)) return ids;
      assert.ok(Date.now() < deadline, `${what}; the page has ${JSON.stringify(ids)}`);
      await sleep(100);
    }
  }

  test('the events delivered while it was gone arrive after it reconnects, then live ones', async () => {
    await page.goto(`${stack.baseUrl}/health`);
    await page.evaluate((query) => {
      window.received = [];
      window.opened = 0;
      const source = new EventSource(`/graphql?query=${encodeURIComponent(query)}`);
      source.addEventListener('open', () => (window.opened += 1));
      source.addEventListener('next', (message) => window.received.push(JSON.parse(message.data).data.roomEvents));
      source.addEventListener('complete', () => source.close());
    }, SUBSCRIPTION);

    const occurredAt = new Date().toISOString();
    const joined = (id) => events.joined(id, { participantId: ids.ROOM, context: 'EventSource', occurredAt });
    // Live once an event delivered now reaches the page.
    let first;
    for (let attempt = 0; ; attempt += 1) {
      first = eventId('before-restart');
      await deliverOk(stack, joined(first));
      await sleep(300);
      if ((await received()).includes(first)) break;
      assert.ok(attempt < 30, 'the EventSource never became live');
    }
    const seen = (await received()).length;

    const missed = Array.from({ length: 5 }, (_, i) => eventId(`while-down-${i}`));
    await stack.restart({
      whileDown: async () => {
        for (const id of missed) await deliverOk(other, joined(id));
      },
    });
    const later = eventId('after-restart');
    await until((got) => got.length >= seen + missed.length, 'the missed events arrive');
    await deliverOk(stack, joined(later));
    const got = await until((all) => all.includes(later), 'a live event arrives');
    assert.deepEqual(got.slice(seen), [...missed, later], 'exactly the missed events, in order, once, then live');
    assert.ok((await page.evaluate(() => window.opened)) >= 2, 'it reconnected');
  });
});
