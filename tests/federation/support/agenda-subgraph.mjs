// A second subgraph, as another team would write it: it adds `agenda` to our `RoomSession` and
// points at our `RoomParticipant`s by key, so queries through a gateway hop both ways.

import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

import { ids } from '../../support/sample.mjs';

export const agendaTypeDefs = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Query {
    "The participant the agenda team features this week."
    featuredParticipant: RoomParticipant
    "Participants featured over time; the second one no longer exists upstream."
    featuredParticipants: [RoomParticipant]
  }

  type RoomSession @key(fields: "id") {
    id: ID!
    "What the session is about."
    agenda: String
  }

  type RoomParticipant @key(fields: "id", resolvable: false) {
    id: ID!
  }
`;

export const agendas = {
  [ids.MEDIUM_SESSION]: 'Quarterly planning: roadmap, hiring, offsite',
};

/** Starts the subgraph on an ephemeral loopback port; `representations` records every RoomSession reference it resolved. */
export async function startAgendaSubgraph() {
  const representations = [];
  const resolvers = {
    Query: {
      featuredParticipant: () => ({ id: ids.PARTICIPANT }),
      featuredParticipants: () => [{ id: ids.PARTICIPANT }, { id: ids.UNKNOWN_PARTICIPANT }],
    },
    RoomSession: {
      __resolveReference(reference) {
        representations.push(reference);
        return { id: reference.id, agenda: agendas[reference.id] ?? null };
      },
    },
  };
  const server = new ApolloServer({
    schema: buildSubgraphSchema([{ typeDefs: parse(agendaTypeDefs), resolvers }]),
    // Traces would only add noise to the responses the gateway gets.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
    stopOnTerminationSignals: false,
  });
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { url, representations, stop: () => server.stop() };
}
