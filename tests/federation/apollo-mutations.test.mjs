// Apollo Client runs the service's mutations and updates its normalised cache from the payloads
// alone: a created room joins a cached `rooms` connection through `roomEdge`, an updated room
// changes in place, a deleted room is evicted by `deletedRoomId`. No refetch is needed for any.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';

import { startSampleUpstream, startService } from '../support/processes.mjs';
import { SAMPLE_API_KEY, rest } from '../support/sample.mjs';

const ROOMS = gql`
  query Rooms {
    rooms(first: 50) {
      edges { cursor node { id uniqueName maxParticipants } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const CREATE = gql`
  mutation CreateRoom($input: CreateRoomInput!) {
    createRoom(input: $input) {
      clientMutationId
      roomEdge { cursor node { id uniqueName maxParticipants } }
    }
  }
`;

const UPDATE = gql`
  mutation UpdateRoom($input: UpdateRoomInput!) {
    updateRoom(input: $input) { room { id uniqueName maxParticipants } }
  }
`;

const DELETE = gql`
  mutation DeleteRoom($input: DeleteRoomInput!) {
    deleteRoom(input: $input) { deletedRoomId }
  }
`;

function newClient(uri) {
  const requests = [];
  const recordingFetch = (url, init) => {
    requests.push(JSON.parse(init.body).operationName);
    return fetch(url, init);
  };
  return {
    requests,
    client: new ApolloClient({
      link: new HttpLink({ uri, fetch: recordingFetch }),
      cache: new InMemoryCache({ typePolicies: { Query: { fields: { rooms: relayStylePagination(['filter']) } } } }),
    }),
  };
}

const cachedRooms = (client) => client.readQuery({ query: ROOMS }).rooms.edges.map(({ node }) => node);

describe('Apollo Client mutations update the cache from their payloads', { timeout: 30_000 }, () => {
  let upstream;
  let service;

  before(async () => {
    upstream = await startSampleUpstream();
    service = await startService({ upstreamBaseUrl: upstream.baseUrl, apiKey: SAMPLE_API_KEY });
  });

  after(async () => {
    await service?.stop();
    await upstream?.stop();
  });

  test('create appends the room via roomEdge, update changes it, delete evicts it', async () => {
    const { client, requests } = newClient(service.graphqlUrl);
    const before = (await client.query({ query: ROOMS })).data.rooms.edges.map(({ node }) => node.id);

    // Create: the cache update appends roomEdge to the cached connection.
    const { data: created } = await client.mutate({
      mutation: CREATE,
      variables: { input: { uniqueName: 'apollo-made', maxParticipants: 7, clientMutationId: 'c1' } },
      update(cache, { data }) {
        cache.modify({
          fields: {
            rooms(existing) {
              const edge = { ...data.createRoom.roomEdge, node: cache.identify(data.createRoom.roomEdge.node) };
              return { ...existing, edges: [...existing.edges, { __typename: 'RoomEdge', cursor: edge.cursor, node: { __ref: edge.node } }] };
            },
          },
        });
      },
    });
    assert.equal(created.createRoom.clientMutationId, 'c1');
    const room = created.createRoom.roomEdge.node;
    assert.deepEqual(cachedRooms(client).map(({ id }) => id), [...before, room.id]);
    assert.deepEqual(cachedRooms(client).at(-1), { __typename: 'Room', id: room.id, uniqueName: 'apollo-made', maxParticipants: 7 });
    // The service's cursor is where `rooms` itself puts the room: last.
    const listed = await client.query({ query: ROOMS, fetchPolicy: 'network-only' });
    assert.equal(listed.data.rooms.edges.at(-1).cursor, created.createRoom.roomEdge.cursor);

    // Update: the normalised Room changes in place, in the cached list too.
    await client.mutate({ mutation: UPDATE, variables: { input: { id: room.id, maxParticipants: 9 } } });
    assert.equal(cachedRooms(client).find(({ id }) => id === room.id).maxParticipants, 9);

    // Delete: evicting the id the payload names removes it from the cached list.
    const { data: deleted } = await client.mutate({
      mutation: DELETE,
      variables: { input: { id: room.id } },
      update(cache, { data }) {
        cache.evict({ id: cache.identify({ __typename: 'Room', id: data.deleteRoom.deletedRoomId }) });
        cache.gc();
      },
    });
    assert.equal(deleted.deleteRoom.deletedRoomId, room.id);
    assert.deepEqual(cachedRooms(client).map(({ id }) => id), before);

    // No refetch was needed for any of it, and Telnyx agrees.
    assert.deepEqual(requests, ['Rooms', 'CreateRoom', 'Rooms', 'UpdateRoom', 'DeleteRoom']);
    await assert.rejects(rest(upstream.baseUrl, `/rooms/${room.id}`), /404/);
  });
});
