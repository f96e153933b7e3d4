// The federation example of docs/clients.md ("Composing with a second subgraph"): an Apollo
// gateway over a running telnyx-rooms-graphql (SERVICE_URL, default
// http://127.0.0.1:8000/graphql) and the example "agenda" subgraph.
//
//   cargo run --release -- --demo                 # terminal 1
//   cd tests/federation && npm ci && npm run gateway   # terminal 2: gateway on :4000
//
// Stop it with Ctrl-C.

import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

import { startAgendaSubgraph } from './support/agenda-subgraph.mjs';

const serviceUrl = process.env.SERVICE_URL ?? 'http://127.0.0.1:8000/graphql';
const port = Number(process.env.GATEWAY_PORT ?? 4000);

const agenda = await startAgendaSubgraph();
const gateway = new ApolloServer({
  gateway: new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [
        { name: 'rooms', url: serviceUrl },
        { name: 'agenda', url: agenda.url },
      ],
    }),
  }),
});
const { url } = await startStandaloneServer(gateway, { listen: { host: '127.0.0.1', port } });
console.log(`gateway: ${url} (rooms: ${serviceUrl}, agenda: ${agenda.url})`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await gateway.stop();
    await agenda.stop();
    process.exit(0);
  });
}
