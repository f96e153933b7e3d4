import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client, fetchExchange } from '@urql/core';

import { SAMPLE_API_KEY, ids, startLiveStack } from './support/live.mjs';
import { joinRedeliverLeaveEnd } from './support/scenarios.mjs';

// urql sends every operation with one Accept header that lists text/event-stream after three
// JSON types. Its queries must come back as one JSON body; its subscriptions
// (`fetchSubscriptions`) as a stream.
describe('urql (fetchExchange, fetchSubscriptions) with its default Accept header', { timeout: 60_000 }, () => {
  let stack;
  let client;
  const exchanges = [];

  before(async () => {
    stack = await startLiveStack();
    client = new Client({
      url: stack.graphqlUrl,
      exchanges: [fetchExchange],
      fetchSubscriptions: true,
      requestPolicy: 'network-only',
      fetchOptions: { headers: { Authorization: `Bearer ${SAMPLE_API_KEY}` } },
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        exchanges.push({
          method: init?.method ?? 'GET',
          accept: new Headers(init?.headers).get('accept'),
          contentType: response.headers.get('content-type'),
        });
        return response;
      },
    });
  });

  after(async () => {
    await stack?.stop();
  });

  test('a query comes back as one JSON body, not a stream', async () => {
    exchanges.length = 0;
    const query = 'query ($id: ID!) { roomSession(id: $id) { id participants(first: 1) { totalCount } } }';
    const result = await client.query(query, { id: ids.SESSION }).toPromise();
    assert.equal(result.error, undefined);
    assert.equal(result.data.roomSession.id, ids.SESSION);
    assert.ok(result.data.roomSession.participants.totalCount > 0);
    assert.equal(exchanges.length, 1);
    assert.match(exchanges[0].accept, /text\/event-stream/, "urql's own Accept, stream included");
    assert.match(exchanges[0].contentType, /^application\/graphql-response\+json/);
  });

  test('a subscription streams: a join, its redeliveries, the leaving and the session end arrive once', async () => {
    exchanges.length = 0;
    const subscribe = (query, variables, sink) => {
      const { unsubscribe } = client.subscription(query, variables).subscribe((result) => {
        if (result.error) sink.error(result.error);
        else sink.next({ data: result.data });
      });
      return unsubscribe;
    };
    await joinRedeliverLeaveEnd(stack, subscribe);
    assert.equal(exchanges.length, 1, 'one request for the whole subscription');
    assert.match(exchanges[0].contentType, /^text\/event-stream/);
  });
});
