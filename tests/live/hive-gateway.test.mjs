import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

import { agendaOf, startAgendaSubgraph } from './support/agenda-subgraph.mjs';
import { startHiveGateway } from './support/gateway.mjs';
import { deliverOk, eventId, events, ids, startLiveStack, untilGauges, untilLive } from './support/live.mjs';
import { joinRedeliverLeaveEnd, open, someoneStillIn, unsubscribingReleasesTheServerSide } from './support/scenarios.mjs';

/** A room's events through the gateway, each completed with the other subgraph's agenda. */
const ROOM_EVENTS_WITH_AGENDA = /* GraphQL */ `
  subscription RoomEventsWithAgenda($roomId: ID!) {
    roomEvents(roomId: $roomId) {
      __typename
      id
      session { id agenda active }
      ... on ParticipantJoined { participant { id context joinedAt } }
    }
  }
`;

/** The upgrades to WebSocket (`GET /graphql` answered 101) the service has logged so far. */
function upgrades(stack) {
  return stack.service.child.output.match(/method=GET path="\/graphql" status=101/g)?.length ?? 0;
}

for (const { subscriptions, client, via } of [
  { subscriptions: 'ws', client: 'ws', via: 'the gateway subscribes to the subgraph over graphql-ws; the client uses graphql-ws' },
  { subscriptions: 'sse', client: 'sse', via: 'the gateway subscribes over GraphQL over SSE; the client uses graphql-sse' },
]) {
  describe(`Hive Gateway passes roomEvents through: ${via}`, { timeout: 60_000 }, () => {
    let stack;
    let agenda;
    let gateway;
    let subscribe;
    let disposeClient;

    before(async () => {
      stack = await startLiveStack();
      agenda = await startAgendaSubgraph();
      gateway = await startHiveGateway({
        subgraphs: [
          { name: 'rooms', url: stack.graphqlUrl },
          { name: 'agenda', url: agenda.url },
        ],
        subscriptions,
      });
      if (client === 'ws') {
        const wsClient = createWsClient({ url: gateway.wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
        subscribe = (query, variables, sink) => wsClient.subscribe({ query, variables }, sink);
        disposeClient = () => wsClient.dispose();
      } else {
        const sseClient = createSseClient({ url: gateway.url, retryAttempts: 0 });
        subscribe = (query, variables, sink) => sseClient.subscribe({ query, variables }, sink);
        disposeClient = () => sseClient.dispose();
      }
    });

    after(async () => {
      await disposeClient?.();
      await gateway?.stop();
      await agenda?.stop();
      await stack?.stop();
    });

    test('each event from a signed webhook arrives once through the gateway, with the webhook data', async () => {
      const before = upgrades(stack);
      await joinRedeliverLeaveEnd(stack, subscribe);
      if (subscriptions === 'ws') {
        assert.equal(upgrades(stack) - before, 1, 'the gateway opened one WebSocket to the service');
      } else {
        assert.equal(upgrades(stack), 0, 'the gateway used no WebSocket');
      }
    });

    test("the gateway completes each event with the other subgraph's RoomSession fields", async () => {
      const someone = await someoneStillIn(stack);
      const { inbox, stop } = open(subscribe, ROOM_EVENTS_WITH_AGENDA, { roomId: ids.ROOM }, 'roomEvents');
      try {
        await untilLive(stack, () => inbox.live());
        agenda.representations.length = 0;
        const joinedAt = '2026-11-30T09:46:20.954863Z';
        const joined = eventId('joined');
        await deliverOk(stack, events.joined(joined, { participantId: someone.id, context: 'via the gateway', occurredAt: joinedAt }));
        assert.deepEqual(await inbox.nextEvent(), {
          __typename: 'ParticipantJoined',
          id: joined,
          session: { id: ids.SESSION, agenda: agendaOf(ids.SESSION), active: true },
          participant: { id: someone.id, context: 'via the gateway', joinedAt },
        });
        // `agenda` came from the other subgraph, asked with our event's session as the key.
        assert.deepEqual(agenda.representations, [{ __typename: 'RoomSession', id: ids.SESSION }]);
        inbox.assertEmpty();
      } finally {
        stop();
      }
    });

    test('an unknown room fails through the gateway with NOT_FOUND', async () => {
      const { inbox, stop } = open(subscribe, `subscription { roomEvents(roomId: "${ids.UNKNOWN_ROOM}") { id } }`, {}, 'roomEvents');
      try {
        const item = await inbox.next();
        const errors = item.type === 'error' ? item.error : item.value?.errors;
        assert.ok(Array.isArray(errors), `expected GraphQL errors, got ${JSON.stringify(item)}`);
        assert.equal(errors[0].extensions?.code, 'NOT_FOUND', JSON.stringify(errors));
      } finally {
        stop();
      }
    });

    test("the client's unsubscribe at the gateway ends the subscription on the service", async () => {
      await unsubscribingReleasesTheServerSide(stack, subscribe);
      if (subscriptions === 'sse') {
        await untilGauges(stack.baseUrl, ({ connections }) => connections === 0);
      }
    });
  });
}
