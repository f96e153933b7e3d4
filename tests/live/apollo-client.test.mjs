import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ApolloClient, HttpLink, InMemoryCache, gql, split } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import {
  deliverOk,
  eventId,
  events,
  graphql,
  ids,
  isProbeId,
  sessionParticipants,
  sleep,
  startLiveStack,
  untilLive,
} from './support/live.mjs';

const PARTICIPANTS = gql`
  query SessionParticipants($id: ID!, $first: Int!) {
    roomSession(id: $id) {
      id
      participants(first: $first) {
        edges {
          cursor
          node {
            id
            context
            leftAt
          }
        }
        pageInfo {
          endCursor
        }
      }
    }
  }
`;

const SESSION_EVENTS = gql`
  subscription SessionEvents($sessionId: ID!) {
    roomSessionEvents(sessionId: $sessionId) {
      id
      ... on ParticipantJoined {
        participantEdge {
          cursor
          node {
            id
            context
            leftAt
          }
        }
      }
      ... on ParticipantLeft {
        participant {
          id
          leftAt
        }
        leftReason
      }
    }
  }
`;

/**
 * What an app writes: a newcomer's edge goes at the end of the cached connection (once), and
 * the end cursor moves to it; other events need no list change (a `ParticipantLeft`'s
 * participant is merged into the normalised cache by Apollo itself).
 */
function insertNewcomer(previous, { subscriptionData, complete }) {
  const event = subscriptionData.data?.roomSessionEvents;
  if (event?.__typename !== 'ParticipantJoined' || !complete || !event.participantEdge) return undefined;
  const connection = previous.roomSession.participants;
  const edge = event.participantEdge;
  if (connection.edges.some(({ node }) => node.id === edge.node.id)) return undefined;
  return {
    ...previous,
    roomSession: {
      ...previous.roomSession,
      participants: {
        ...connection,
        edges: [...connection.edges, edge],
        pageInfo: { ...connection.pageInfo, endCursor: edge.cursor },
      },
    },
  };
}

/** The connection without Apollo's `__typename`s, for comparing with a plain HTTP answer. */
function plain(connection) {
  return {
    edges: connection.edges.map(({ cursor, node: { id, context, leftAt } }) => ({ cursor, node: { id, context, leftAt } })),
    pageInfo: { endCursor: connection.pageInfo.endCursor },
  };
}

/** Resolves with the first result `watched` emits (or emitted) that satisfies `predicate`. */
async function until(results, predicate, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = results.find(predicate);
    if (found) return found;
    assert.ok(Date.now() < deadline, `the watched query never showed ${what}; last: ${JSON.stringify(results.at(-1))}`);
    await sleep(10);
  }
}

describe("Apollo Client: a subscription updates a cached Relay connection (GraphQLWsLink split with HttpLink)", { timeout: 60_000 }, () => {
  let stack;
  let wsClient;
  let client;
  let httpRequests = 0;

  before(async () => {
    stack = await startLiveStack();
    wsClient = createClient({ url: stack.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 });
    const countingFetch = (...args) => {
      httpRequests += 1;
      return fetch(...args);
    };
    client = new ApolloClient({
      link: split(
        ({ query }) => {
          const definition = getMainDefinition(query);
          return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
        },
        new GraphQLWsLink(wsClient),
        new HttpLink({ uri: stack.graphqlUrl, fetch: countingFetch }),
      ),
      cache: new InMemoryCache({
        typePolicies: { RoomSession: { fields: { participants: relayStylePagination(['filter']) } } },
      }),
    });
  });

  after(async () => {
    client?.stop();
    await wsClient?.dispose();
    await stack?.stop();
  });

  test("a ParticipantJoined's participantEdge is appended to the cached connection; a ParticipantLeft sets leftAt", async () => {
    // The sample upstream's list is fixed, so its last participant plays the newcomer: the
    // cached page stops just before them, and the edge the event brings must then be exactly
    // what the service's connection lists last.
    const participants = await sessionParticipants(stack.upstreamBaseUrl);
    const newcomer = participants.at(-1);
    const stayer = participants.find((participant) => participant.left_at === null);
    assert.ok(stayer && stayer.id !== newcomer.id, 'the sample session has someone still in it');

    const variables = { id: ids.SESSION, first: participants.length - 1 };
    const watched = client.watchQuery({ query: PARTICIPANTS, variables });
    const results = [];
    const watching = watched.subscribe({ next: (result) => results.push(result) });
    const heard = [];
    let stopEvents;
    try {
      const initial = await until(results, (result) => result.dataState === 'complete', 'its first page');
      assert.deepEqual(
        initial.data.roomSession.participants.edges.map(({ node }) => node.id),
        participants.slice(0, -1).map(({ id }) => id),
      );
      assert.equal(httpRequests, 1);

      stopEvents = watched.subscribeToMore({
        document: SESSION_EVENTS,
        variables: { sessionId: ids.SESSION },
        updateQuery: (previous, options) => {
          heard.push(options.subscriptionData.data?.roomSessionEvents);
          return insertNewcomer(previous, options);
        },
        onError: (error) => heard.push({ error }),
      });
      await untilLive(stack, () => {
        const failed = heard.find((event) => event?.error);
        assert.equal(failed, undefined, `the subscription failed: ${failed?.error}`);
        return heard.some((event) => isProbeId(event?.id));
      });

      // A participant joins.
      const joined = eventId('joined');
      await deliverOk(
        stack,
        events.joined(joined, { participantId: newcomer.id, context: newcomer.context, occurredAt: newcomer.joined_at }),
      );
      const grown = await until(
        results,
        (result) => result.data?.roomSession.participants.edges.length === participants.length,
        'the newcomer',
      );
      const cached = plain(grown.data.roomSession.participants);
      assert.equal(cached.edges.at(-1).node.id, newcomer.id);
      assert.equal(cached.pageInfo.endCursor, cached.edges.at(-1).cursor);
      // The cache now holds what asking the service afresh for the whole list returns.
      const fresh = await graphql(stack.graphqlUrl, PARTICIPANTS.loc.source.body, { id: ids.SESSION, first: participants.length });
      assert.equal(fresh.errors, undefined, JSON.stringify(fresh.errors));
      assert.deepEqual(cached, plain(fresh.data.roomSession.participants));
      assert.deepEqual(plain(client.readQuery({ query: PARTICIPANTS, variables }).roomSession.participants), cached);
      assert.equal(httpRequests, 1, 'the list grew from the subscription, without a refetch');

      // A redelivery of the join changes nothing.
      await deliverOk(
        stack,
        events.joined(joined, { participantId: newcomer.id, context: newcomer.context, occurredAt: newcomer.joined_at }),
      );

      // Someone leaves: Apollo merges the event's participant into the normalised cache, so the
      // watched list shows their `leftAt` with no list surgery and no refetch.
      const leftAt = '2026-11-30T10:30:00.250000Z';
      const left = eventId('left');
      await deliverOk(
        stack,
        events.left(left, { participantId: stayer.id, context: stayer.context, occurredAt: leftAt, durationSecs: 90, leftReason: 'kicked' }),
      );
      const updated = await until(
        results,
        (result) => result.data?.roomSession.participants.edges.some(({ node }) => node.id === stayer.id && node.leftAt === leftAt),
        `${stayer.id} leaving`,
      );
      const expected = cached.edges.map((edge) =>
        edge.node.id === stayer.id ? { ...edge, node: { ...edge.node, leftAt } } : edge,
      );
      assert.deepEqual(plain(updated.data.roomSession.participants).edges, expected);
      const entity = client.cache.readFragment({
        id: client.cache.identify({ __typename: 'RoomParticipant', id: stayer.id }),
        fragment: gql`
          fragment LeftAt on RoomParticipant {
            id
            leftAt
          }
        `,
      });
      assert.deepEqual({ ...entity }, { __typename: 'RoomParticipant', id: stayer.id, leftAt });
      assert.equal(httpRequests, 1);

      // Every event reached updateQuery once, in order (probes aside): the redelivery did not.
      assert.deepEqual(
        heard.filter((event) => !isProbeId(event?.id)).map((event) => [event.__typename, event.id]),
        [
          ['ParticipantJoined', joined],
          ['ParticipantLeft', left],
        ],
      );
      assert.equal(heard.find((event) => event.id === left).leftReason, 'kicked');
    } finally {
      stopEvents?.();
      watching.unsubscribe();
    }
  });
});
