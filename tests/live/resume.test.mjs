import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

import { startRedis } from '../support/processes.mjs';
import { resumingSseSubscribe as resumingSse, resumingWsClient as resumingWs } from '../support/resuming.mjs';
import { SAMPLE_API_KEY, deliverOk, eventId, events, ids, sleep, startLiveStack, untilLive } from './support/live.mjs';
import { open } from './support/scenarios.mjs';

// Two replicas share live events through a real redis-server. A client subscribed to the first
// loses it to a rolling restart; while it is down, webhooks reach the other replica. The
// unmodified clients, with the few lines docs/live.md ("Resuming") gives each, reconnect to the
// restarted replica and get exactly the events they missed, in order, once, then live ones.

const RESUMABLE = /* GraphQL */ `
  subscription Resumable($roomId: ID!) {
    roomEvents(roomId: $roomId) { __typename id cursor }
  }
`;

const authorization = `Bearer ${SAMPLE_API_KEY}`;
const resumingWsClient = (url) => resumingWs({ createClient: createWsClient, webSocketImpl: WebSocket, url, authorization });
const resumingSseSubscribe = (url) => resumingSse({ createClient: createSseClient, url, authorization });

describe('resuming through a rolling restart, two replicas sharing Redis', { timeout: 90_000 }, () => {
  let redis;
  let stack;
  let other;

  before(async () => {
    redis = await startRedis();
    stack = await startLiveStack({ redisUrl: redis.url });
    other = await stack.replica();
  });

  after(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  /** Subscribes with `subscribe`, restarts the replica it is on, and checks what arrives. */
  async function missesNothing(subscribe) {
    const { inbox, stop } = open(subscribe, RESUMABLE, { roomId: ids.ROOM }, 'roomEvents');
    try {
      await untilLive(stack, () => inbox.live());
      const occurredAt = new Date().toISOString();
      const joined = (id) => events.joined(id, { participantId: ids.ROOM, context: 'resume', occurredAt });
      const first = eventId('before-restart');
      await deliverOk(stack, joined(first));
      assert.equal((await inbox.nextEvent()).id, first);

      const missed = Array.from({ length: 5 }, (_, i) => eventId(`while-down-${i}`));
      await stack.restart({
        whileDown: async () => {
          for (const id of missed) await deliverOk(other, joined(id));
        },
      });
      for (const id of missed) {
        assert.equal((await inbox.nextEvent(20_000)).id, id, 'the missed events, in order, once');
      }
      const later = eventId('after-restart');
      await deliverOk(stack, joined(later));
      assert.equal((await inbox.nextEvent()).id, later, 'then live ones, nothing twice');
    } finally {
      stop();
    }
  }

  test('graphql-ws with the documented connectionParams helper', async () => {
    const client = resumingWsClient(stack.wsUrl);
    try {
      await missesNothing((query, variables, sink) => client.subscribe({ query, variables }, sink));
    } finally {
      await client.dispose();
    }
  });

  test("Apollo Client's GraphQLWsLink over the same helper", async () => {
    const wsClient = resumingWsClient(stack.wsUrl);
    const client = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });
    try {
      await missesNothing((query, variables, sink) => {
        const subscription = client.subscribe({ query: gql(query), variables }).subscribe({
          next: (result) => sink.next(result),
          error: sink.error,
          complete: sink.complete,
        });
        return () => subscription.unsubscribe();
      });
    } finally {
      client.stop();
      await wsClient.dispose();
    }
  });

  test('graphql-sse sending the last cursor as Last-Event-ID', async () => {
    await missesNothing(resumingSseSubscribe(stack.graphqlUrl));
  });
});
