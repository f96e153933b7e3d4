// The whole federated stack on loopback: sample upstream <- our service <- gateway -> agenda subgraph.

import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTrace } from '@apollo/server/plugin/inlineTrace';
import { startStandaloneServer } from '@apollo/server/standalone';

import { startAgendaSubgraph } from './agenda-subgraph.mjs';
import { startSampleUpstream, startService } from '../../support/processes.mjs';
import { SAMPLE_API_KEY } from '../../support/sample.mjs';

/**
 * Starts everything and returns the URLs plus `stop()`, which stops all of it in reverse order;
 * call it from an `after` hook. If a step fails, whatever did start is stopped before the error
 * is rethrown.
 */
export async function startSupergraph() {
  const stops = [];
  const stack = {
    async stop() {
      const results = await Promise.allSettled(stops.reverse().map((stop) => stop()));
      stops.length = 0;
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };

  try {
    const upstream = await startSampleUpstream();
    stops.push(upstream.stop);
    stack.upstreamBaseUrl = upstream.baseUrl;

    const service = await startService({ upstreamBaseUrl: upstream.baseUrl, apiKey: SAMPLE_API_KEY });
    stops.push(service.stop);
    stack.serviceUrl = service.graphqlUrl;

    const agenda = await startAgendaSubgraph();
    stops.push(agenda.stop);
    stack.agendaUrl = agenda.url;
    stack.agendaRepresentations = agenda.representations;

    const gateway = new ApolloServer({
      gateway: new ApolloGateway({
        supergraphSdl: new IntrospectAndCompose({
          subgraphs: [
            { name: 'rooms', url: service.graphqlUrl },
            { name: 'agenda', url: agenda.url },
          ],
        }),
      }),
      // A client sending `apollo-federation-include-trace: ftv1` gets the gateway's own trace,
      // with the subgraphs' traces under their fetches: the gateway then asks the subgraphs
      // for theirs, as with GraphOS field-level instrumentation (ftv1.test.mjs).
      plugins: [ApolloServerPluginInlineTrace()],
      includeStacktraceInErrorResponses: false,
      stopOnTerminationSignals: false,
    });
    const { url } = await startStandaloneServer(gateway, { listen: { host: '127.0.0.1', port: 0 } });
    stops.push(() => gateway.stop());
    stack.gatewayUrl = url;
  } catch (error) {
    await stack.stop().catch(() => {});
    throw error;
  }
  return stack;
}
