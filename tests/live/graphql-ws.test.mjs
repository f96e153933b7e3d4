import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import {
  SAMPLE_API_KEY,
  deliverOk,
  eventId,
  events,
  ids,
  startLiveStack,
  untilGauges,
  untilLive,
} from './support/live.mjs';
import {
  ROOM_EVENTS,
  eachSubscriberHearsItsOwn,
  joinRedeliverLeaveEnd,
  open,
  sessionEventsHearTheSame,
  unknownRoomIsNotFound,
  unsubscribingReleasesTheServerSide,
} from './support/scenarios.mjs';

describe('graphql-ws client (graphql-transport-ws) fed by signed webhooks', { timeout: 60_000 }, () => {
  let stack;
  let client;
  let acknowledged = 0;

  before(async () => {
    stack = await startLiveStack();
    client = createClient({
      url: stack.wsUrl,
      webSocketImpl: WebSocket,
      // The caller's credential travels in `connection_init`, as browsers cannot set headers.
      connectionParams: { Authorization: `Bearer ${SAMPLE_API_KEY}` },
      // One socket for the whole suite (the lazy default's close-when-idle is tested below).
      lazy: false,
      retryAttempts: 0,
      on: { connected: () => (acknowledged += 1) },
    });
  });

  after(async () => {
    await client?.dispose();
    await stack?.stop();
  });

  const subscribe = (query, variables, sink) => client.subscribe({ query, variables }, sink);

  test('a join, its redeliveries, the leaving and the session end each arrive once, with the webhook data', async () => {
    await joinRedeliverLeaveEnd(stack, subscribe);
    assert.equal(acknowledged, 1, 'one connection, acknowledged once');
  });

  test('a roomSessionEvents subscription hears the same events as roomEvents', async () => {
    await sessionEventsHearTheSame(stack, subscribe);
  });

  test('operations multiplexed on one socket each hear only their room or session', async () => {
    await eachSubscriberHearsItsOwn(stack, subscribe);
  });

  test('an unknown room fails the operation with NOT_FOUND, and it ends', async () => {
    await unknownRoomIsNotFound(subscribe);
  });

  test("the client's unsubscribe ends the subscription on the server; dispose closes the connection", async () => {
    await unsubscribingReleasesTheServerSide(stack, subscribe);
    assert.equal((await untilGauges(stack.baseUrl, () => true)).connections, 1, 'the socket stays open');
    await client.dispose();
    await untilGauges(stack.baseUrl, ({ connections }) => connections === 0);
    assert.equal(acknowledged, 1, 'every test ran on the one connection');
  });
});

describe("graphql-ws's lazy client (its default): the socket closes when idle and reopens", { timeout: 60_000 }, () => {
  let stack;

  before(async () => {
    stack = await startLiveStack();
  });

  after(async () => {
    await stack?.stop();
  });

  test('a subscription started while the idle socket closes reconnects and hears events; closes are answered', async () => {
    const closes = [];
    const client = createClient({
      url: stack.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      on: { closed: (event) => closes.push(event.code) },
    });
    const subscribe = (query, variables, sink) => client.subscribe({ query, variables }, sink);
    try {
      const first = open(subscribe, ROOM_EVENTS, { roomId: ids.ROOM }, 'roomEvents');
      await untilLive(stack, () => first.inbox.live());
      // The last operation ends: the lazy client sends `complete` and, a tick later, closes the
      // socket with 1000 (as when a UI swaps one subscribing view for another). The operation
      // started next waits for that close and goes out on a new socket, which graphql-ws does
      // only when the close completed normally: the server answers the client's close frame
      // (RFC 6455 section 5.5.1) and the client sees 1000. Without that answer the client sees
      // 1006 and fails the operation (or, with retries on, waits 1.3 s to 4 s to reconnect,
      // missing whatever happened meanwhile).
      first.stop();
      await new Promise((resolve) => setImmediate(resolve));
      const second = open(subscribe, ROOM_EVENTS, { roomId: ids.ROOM }, 'roomEvents');
      try {
        await untilLive(stack, () => second.inbox.live());
        const later = eventId('after-reconnect');
        await deliverOk(stack, events.sessionStarted(later, { occurredAt: '2026-11-30T12:00:00.000000Z' }));
        assert.equal((await second.inbox.nextEvent()).id, later);
      } catch (error) {
        error.message += ` (socket closes seen by the client: ${JSON.stringify(closes)})`;
        throw error;
      } finally {
        second.stop();
      }
      assert.deepEqual(closes.slice(0, 1), [1000], 'the first socket closed normally');
    } finally {
      await client.dispose();
    }
  });
});
