// A second federation subgraph, written out by hand (no server framework): it contributes
// `RoomSession.agenda` through `_entities`, so a gateway must call it to complete each room
// event that our service publishes. It records every representation it is asked for.

import { createServer } from 'node:http';

import { buildSchema, graphql } from 'graphql';

export const AGENDA_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type RoomSession @key(fields: "id") {
    id: ID!
    "What the session is about, kept by another team's service."
    agenda: String
  }
`;

// What the subgraph executes: the SDL above plus Federation's `_service` and `_entities`.
const schema = buildSchema(/* GraphQL */ `
  scalar _Any
  union _Entity = RoomSession
  type _Service { sdl: String }
  type Query {
    _service: _Service!
    _entities(representations: [_Any!]!): [_Entity]!
  }
  type RoomSession {
    id: ID!
    agenda: String
  }
`);

export function agendaOf(sessionId) {
  return `Agenda for ${sessionId}`;
}

export async function startAgendaSubgraph() {
  const representations = [];
  const rootValue = {
    _service: () => ({ sdl: AGENDA_SDL }),
    _entities: ({ representations: asked }) =>
      asked.map((representation) => {
        representations.push(representation);
        return representation.__typename === 'RoomSession'
          ? { __typename: 'RoomSession', id: representation.id, agenda: agendaOf(representation.id) }
          : null;
      }),
  };
  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    let result;
    try {
      const { query, variables, operationName } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      result = await graphql({ schema, source: query, variableValues: variables, operationName, rootValue });
    } catch (error) {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ errors: [{ message: String(error) }] }));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(result));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}/graphql`;
  return {
    url,
    representations,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
