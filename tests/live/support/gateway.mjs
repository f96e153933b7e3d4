// Hive Gateway in this process on a loopback port: a supergraph composed from our service's
// `_service { sdl }` and the agenda subgraph's, served over HTTP (queries, GraphQL over SSE) and
// graphql-ws on `/graphql`, as the `hive-gateway` CLI serves it.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { createGatewayRuntime, getGraphQLWSOptions } from '@graphql-hive/gateway-runtime';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

import { graphql, sleep } from './live.mjs';

/** Composes `subgraphs` ({ name, url }), each asked for its SDL, into a supergraph SDL. */
export async function composeSupergraph(subgraphs) {
  const services = [];
  for (const { name, url } of subgraphs) {
    const answer = await graphql(url, '{ _service { sdl } }');
    assert.equal(answer.errors, undefined, `${name}: ${JSON.stringify(answer.errors)}`);
    services.push({ name, url, typeDefs: parse(answer.data._service.sdl) });
  }
  const composed = composeServices(services);
  assert.deepEqual(composed.errors ?? [], [], 'the subgraphs compose');
  return composed.supergraphSdl;
}

/**
 * How the gateway subscribes to the `rooms` subgraph: 'ws' is graphql-transport-ws on its
 * `/graphql`; 'sse' is Hive Gateway's default for HTTP subgraphs, GraphQL over SSE, made a POST
 * (its default is a GET with the operation in the query string, which the service answers 406:
 * it streams only POSTs).
 */
const TRANSPORT_ENTRIES = {
  ws: { rooms: { options: { subscriptions: { kind: 'ws', location: '/graphql' } } } },
  sse: { rooms: { options: { method: 'POST' } } },
};

/** Starts the gateway over `subgraphs`, subscribing to `rooms` as `subscriptions` says. */
export async function startHiveGateway({ subgraphs, subscriptions }) {
  const supergraph = await composeSupergraph(subgraphs);
  const transportEntries = TRANSPORT_ENTRIES[subscriptions];
  assert.ok(transportEntries, `no transport ${subscriptions}`);
  const gateway = createGatewayRuntime({
    supergraph,
    transportEntries,
    logging: process.env.GATEWAY_LOG ?? false,
    graphiql: false,
    landingPage: false,
  });
  const server = createServer(gateway);
  const wsServer = new WebSocketServer({ server, path: gateway.graphqlEndpoint });
  const wsDisposable = useServer(
    getGraphQLWSOptions(gateway, (ctx) => ({ req: ctx.extra?.request, socket: ctx.extra?.socket })),
    wsServer,
  );
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const stop = async () => {
    await wsDisposable.dispose();
    await new Promise((resolve) => wsServer.close(() => resolve()));
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve()));
    await gateway.dispose();
  };
  try {
    // Ready once the supergraph is loaded: graphql-ws operations reaching a gateway that has
    // not served an HTTP request yet fail with "Expected null to be a GraphQL schema".
    const deadline = Date.now() + 10_000;
    for (;;) {
      const response = await fetch(`http://127.0.0.1:${port}/readiness`);
      await response.arrayBuffer();
      if (response.ok) break;
      assert.ok(Date.now() < deadline, `the gateway never became ready (${response.status})`);
      await sleep(50);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}${gateway.graphqlEndpoint}`,
    wsUrl: `ws://127.0.0.1:${port}${gateway.graphqlEndpoint}`,
    stop,
  };
}
