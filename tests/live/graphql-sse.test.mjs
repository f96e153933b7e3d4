import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createClient } from 'graphql-sse';

import { Inbox, SAMPLE_API_KEY, describe as describeItem, ids, startLiveStack, untilGauges } from './support/live.mjs';
import { eachSubscriberHearsItsOwn, joinRedeliverLeaveEnd, unsubscribingReleasesTheServerSide } from './support/scenarios.mjs';

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
    await joinRedeliverLeaveEnd(stack, subscribe, {
      field: 'roomSessionEvents',
      variables: { sessionId: ids.SESSION },
      query: /* GraphQL */ `
        subscription SessionEvents($sessionId: ID!) {
          roomSessionEvents(sessionId: $sessionId) {
            __typename
            id
            occurredAt
            room { id }
            session { id }
            ... on ParticipantJoined { participant { id context joinedAt leftAt } }
            ... on ParticipantLeft { participant { id context leftAt } durationSecs leftReason }
            ... on RoomSessionEnded { durationSecs endedReason }
          }
        }
      `,
    });
  });

  test('two streams side by side each hear only their room or session', async () => {
    await eachSubscriberHearsItsOwn(stack, subscribe);
  });

  test('an unknown room ends the stream with a NOT_FOUND result, then complete', async () => {
    const inbox = new Inbox((result) => result?.data?.roomEvents);
    const stop = subscribe(`subscription { roomEvents(roomId: "${ids.UNKNOWN_ROOM}") { id } }`, {}, inbox.sink);
    try {
      const item = await inbox.next();
      assert.equal(item.type, 'next', describeItem(item));
      assert.equal(item.value.data, null, describeItem(item));
      assert.equal(item.value.errors[0].extensions.code, 'NOT_FOUND', describeItem(item));
      assert.deepEqual(await inbox.next(), { type: 'complete' });
    } finally {
      stop();
    }
  });

  test("the client's unsubscribe (aborting the request) ends the stream on the server", async () => {
    await unsubscribingReleasesTheServerSide(stack, subscribe);
    await untilGauges(stack.baseUrl, ({ connections }) => connections === 0);
  });
});
