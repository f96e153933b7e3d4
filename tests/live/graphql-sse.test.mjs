import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createClient } from 'graphql-sse';

import { SAMPLE_API_KEY, startLiveStack, untilGauges } from './support/live.mjs';
import {
  eachSubscriberHearsItsOwn,
  joinRedeliverLeaveEnd,
  sessionEventsHearTheSame,
  unknownRoomIsNotFound,
  unsubscribingReleasesTheServerSide,
} from './support/scenarios.mjs';

describe('graphql-sse client (distinct connections mode) fed by signed webhooks', { timeout: 60_000 }, () => {
  let stack;
  let client;
  const requests = [];

  before(async () => {
    stack = await startLiveStack();
    client = createClient({
      url: stack.graphqlUrl,
      // `singleConnection: false` is the default: each operation is its own
      // `POST /graphql` with `Accept: text/event-stream`.
      headers: { Authorization: `Bearer ${SAMPLE_API_KEY}` },
      retryAttempts: 0,
      fetchFn: (input, init) => {
        requests.push({ method: init?.method, accept: new Headers(init?.headers).get('accept') });
        return fetch(input, init);
      },
    });
  });

  after(async () => {
    client?.dispose();
    await stack?.stop();
  });

  const subscribe = (query, variables, sink) => client.subscribe({ query, variables }, sink);

  test('a join, its redeliveries, the leaving and the session end each arrive once, with the webhook data', async () => {
    await joinRedeliverLeaveEnd(stack, subscribe);
    assert.deepEqual(requests, [{ method: 'POST', accept: 'text/event-stream' }], 'one streaming POST');
  });

  test('a roomSessionEvents stream hears the same events as roomEvents', async () => {
    await sessionEventsHearTheSame(stack, subscribe);
  });

  test('two streams side by side each hear only their room or session', async () => {
    await eachSubscriberHearsItsOwn(stack, subscribe);
  });

  test('an unknown room ends the stream with a NOT_FOUND result, then complete', async () => {
    await unknownRoomIsNotFound(subscribe);
  });

  test("the client's unsubscribe (aborting the request) ends the stream on the server", async () => {
    await unsubscribingReleasesTheServerSide(stack, subscribe);
    await untilGauges(stack.baseUrl, ({ connections }) => connections === 0);
  });
});
