// A recording HTTP proxy between the service and the sample upstream: it forwards every request
// unchanged and remembers `METHOD /path?query` (exactly as the service sent it), so that tests can
// assert which upstream requests a GraphQL request cost.

import http from 'node:http';

/**
 * Listens on an ephemeral loopback port and forwards to `upstreamBaseUrl` (e.g.
 * `http://127.0.0.1:1234/v2`); `baseUrl` is the same URL with the proxy's port, for the service's
 * `--telnyx-api-base-url`.
 */
export async function startRecordingProxy(upstreamBaseUrl) {
  const upstream = new URL(upstreamBaseUrl);
  const requests = [];
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    const forwarded = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: upstream.host },
      },
      (upstreamResponse) => {
        response.writeHead(upstreamResponse.statusCode, upstreamResponse.headers);
        upstreamResponse.pipe(response);
      },
    );
    forwarded.on('error', (error) => {
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(`recording proxy: ${error.message}`);
    });
    request.pipe(forwarded);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}${upstream.pathname}`,
    /** The requests recorded since the last `take()` (or start), in arrival order; clears them. */
    take() {
      return requests.splice(0, requests.length);
    },
    stop() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
