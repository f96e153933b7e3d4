import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { firstValueFrom, filter } from 'rxjs';

import { allParticipants, ids } from '../support/sample.mjs';
import { startSupergraph } from './support/supergraph.mjs';

const PARTICIPANTS = gql`
  query SessionParticipants($id: ID!, $first: Int!, $after: String) {
    roomSession(id: $id) {
      id
      participants(first: $first, after: $after) {
        edges {
          cursor
          node {
            id
            context
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`;

/** A client with Relay-style merging of `RoomSession.participants`; `requests()` counts HTTP requests. */
function newClient(uri) {
  let requests = 0;
  const countingFetch = (...args) => {
    requests += 1;
    return fetch(...args);
  };
  const client = new ApolloClient({
    link: new HttpLink({ uri, fetch: countingFetch }),
    cache: new InMemoryCache({
      typePolicies: { RoomSession: { fields: { participants: relayStylePagination(['filter']) } } },
    }),
  });
  return { client, requests: () => requests };
}

/**
 * Pages through a session's participants the way a Relay-style UI does (`fetchMore` with the
 * last `endCursor` until `hasNextPage` is false) and returns the merged connection from the cache.
 */
async function pageThroughWithFetchMore(client, sessionId, pageSize) {
  const variables = { id: sessionId, first: pageSize };
  const query = client.watchQuery({ query: PARTICIPANTS, variables });
  let { data, error } = await firstValueFrom(query.pipe(filter((result) => !result.loading)));
  assert.equal(error, undefined);
  for (let pages = 1; data.roomSession.participants.pageInfo.hasNextPage; pages++) {
    assert.ok(pages < 100, 'hasNextPage never became false');
    ({ data } = await query.fetchMore({
      variables: { after: data.roomSession.participants.pageInfo.endCursor },
    }));
  }
  return client.readQuery({ query: PARTICIPANTS, variables }).roomSession.participants;
}

describe('Apollo Client paging with relayStylePagination', { timeout: 30_000 }, () => {
  let stack;
  let expectedIds;

  before(async () => {
    stack = await startSupergraph();
    expectedIds = (await allParticipants(stack.upstreamBaseUrl, ids.MEDIUM_SESSION)).map(({ id }) => id);
    assert.equal(expectedIds.length, 53, 'the sample upstream still seeds 53 participants here');
  });

  after(async () => {
    await stack?.stop();
  });

  for (const [target, urlOf] of [
    ['through the gateway', (s) => s.gatewayUrl],
    ['against our service directly', (s) => s.serviceUrl],
  ]) {
    test(`fetchMore with endCursor collects every participant once, in upstream order, ${target}`, async () => {
      const { client, requests } = newClient(urlOf(stack));

      const participants = await pageThroughWithFetchMore(client, ids.MEDIUM_SESSION, 10);

      assert.deepEqual(
        participants.edges.map((edge) => edge.node.id),
        expectedIds,
      );
      assert.equal(requests(), Math.ceil(expectedIds.length / 10));
      assert.equal(participants.pageInfo.hasNextPage, false);
      assert.equal(participants.pageInfo.endCursor, participants.edges.at(-1).cursor);
    });
  }
});
