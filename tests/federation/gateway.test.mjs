import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { agendas } from './support/agenda-subgraph.mjs';
import { allParticipants, graphql, ids, rest } from '../support/sample.mjs';
import { startSupergraph } from './support/supergraph.mjs';

describe('a gateway over our service and a second subgraph', { timeout: 30_000 }, () => {
  let stack;

  before(async () => {
    stack = await startSupergraph();
  });

  after(async () => {
    await stack?.stop();
  });

  test('a room session from our subgraph gets its agenda from the other one through _entities', async () => {
    const participants = await allParticipants(stack.upstreamBaseUrl, ids.MEDIUM_SESSION);

    const response = await graphql(
      stack.gatewayUrl,
      `query ($id: ID!) { roomSession(id: $id) { id agenda participants(first: 2) { nodes { id } } } }`,
      { id: ids.MEDIUM_SESSION },
    );

    assert.deepEqual(response, {
      data: {
        roomSession: {
          id: ids.MEDIUM_SESSION,
          agenda: agendas[ids.MEDIUM_SESSION],
          participants: { nodes: participants.slice(0, 2).map(({ id }) => ({ id })) },
        },
      },
    });
    assert.deepEqual(stack.agendaRepresentations, [{ __typename: 'RoomSession', id: ids.MEDIUM_SESSION }]);
  });

  test("the other subgraph's participant reference is completed by our _entities from the upstream participant", async () => {
    const { data: participant } = await rest(stack.upstreamBaseUrl, `/room_participants/${ids.PARTICIPANT}`);

    const response = await graphql(stack.gatewayUrl, '{ featuredParticipant { id context session { id } } }');

    assert.deepEqual(response, {
      data: {
        featuredParticipant: {
          id: participant.id,
          context: participant.context,
          session: { id: participant.session_id },
        },
      },
    });
  });

  test('a reference to an unknown participant fails alone with NOT_FOUND while its sibling resolves', async () => {
    const { data: known } = await rest(stack.upstreamBaseUrl, `/room_participants/${ids.PARTICIPANT}`);

    const response = await graphql(stack.gatewayUrl, '{ featuredParticipants { id context session { id } } }');

    // `session` is non-null, so the unknown participant's item becomes null.
    assert.deepEqual(response.data, {
      featuredParticipants: [{ id: known.id, context: known.context, session: { id: known.session_id } }, null],
    });
    assert.ok(response.errors?.length > 0, 'the unknown participant is reported');
    for (const error of response.errors) {
      assert.equal(error.extensions.code, 'NOT_FOUND');
      assert.equal(error.extensions.serviceName, 'rooms');
      assert.match(error.message, new RegExp(ids.UNKNOWN_PARTICIPANT));
    }
  });

  test("the unknown participant is one error at its item in the list", async () => {
    const response = await graphql(stack.gatewayUrl, '{ featuredParticipants { id context } }');

    // Our subgraph answers the missing entity with null at its index and one error naming it.
    assert.deepEqual(
      response.errors?.map((error) => error.path),
      [['featuredParticipants', 1]],
    );
    assert.match(response.errors[0].message, new RegExp(ids.UNKNOWN_PARTICIPANT));
  });
});
