'use strict';
// The app's Relay environment: a network layer that POSTs each operation to the service's
// `/graphql` as JSON (the content type alone satisfies the service's CSRF check for requests
// without `Authorization`), and a plain store.

const { Environment, Network, RecordSource, Store } = require('relay-runtime');

/**
 * `onOperation` is handed a record of each operation the network layer sends (its name, text and
 * variables) before it is sent; the parsed response body is added to it as `response`. A response
 * with any GraphQL error fails the operation, so that no partial data hides a service error.
 */
function createEnvironment(graphqlUrl, { onOperation = () => {} } = {}) {
  const network = Network.create(async (params, variables) => {
    const operation = { name: params.name, text: params.text, variables };
    onOperation(operation);
    const response = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: params.text, variables, operationName: params.name }),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
      operation.response = body;
    } catch {
      throw new Error(`${params.name}: HTTP ${response.status}: ${text}`);
    }
    if (!response.ok || body.errors?.length) {
      throw new Error(`${params.name}: HTTP ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
    }
    return body;
  });
  return new Environment({ network, store: new Store(new RecordSource()) });
}

module.exports = { createEnvironment };
