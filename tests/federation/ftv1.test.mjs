// Apollo's federated traces: our `extensions.ftv1` decoded with Apollo's own protobuf package,
// and Apollo Gateway asking for it (field-level instrumentation) and nesting it in its trace.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Trace } from '@apollo/usage-reporting-protobuf';

import { graphql, ids } from '../support/sample.mjs';
import { startSupergraph } from './support/supergraph.mjs';

const FTV1 = { 'apollo-federation-include-trace': 'ftv1' };

/** A response's `extensions.ftv1` decoded, with 64-bit numbers as plain numbers. */
function decode(response) {
  assert.equal(typeof response.extensions?.ftv1, 'string', JSON.stringify(response));
  const trace = Trace.decode(Buffer.from(response.extensions.ftv1, 'base64'));
  return Trace.toObject(trace, { longs: Number, defaults: true, oneofs: true });
}

/** A node's subtree on one line: `name(field):Type` per field, `[i]` per list item. */
function render(node) {
  let out = node.id === 'index' ? `[${node.index}]` : (node.responseName ?? '');
  if (node.originalFieldName) out += `(${node.originalFieldName})`;
  if (node.type) out += `:${node.type}`;
  if (node.child.length > 0) out += ` { ${node.child.map(render).join(' ')} }`;
  return out;
}

/** Every field lies within the trace, and the fields below it begin once it has ended (its resolver returned). */
function assertTimingsInOrder(node, notBefore, durationNs) {
  const timed = node.type !== '';
  if (timed) {
    assert.ok(notBefore <= node.startTime && node.startTime <= node.endTime && node.endTime <= durationNs, render(node));
  }
  for (const child of node.child) assertTimingsInOrder(child, timed ? node.endTime : notBefore, durationNs);
}

/** Every fetch node of a query plan, depth first. */
function fetches(plan) {
  if (!plan) return [];
  if (plan.fetch) return [plan.fetch];
  const children = plan.sequence?.nodes ?? plan.parallel?.nodes ?? (plan.flatten ? [plan.flatten.node] : []);
  return children.flatMap(fetches);
}

describe('ftv1: federated traces', { timeout: 30_000 }, () => {
  let stack;

  before(async () => {
    stack = await startSupergraph();
  });

  after(async () => {
    await stack?.stop();
  });

  test('our trace decodes with Apollo\'s Trace into the query\'s fields, aliases and list items, timed within the request', async () => {
    const query = `query ($id: ID!) { session: roomSession(id: $id) { id participants(first: 2) { nodes { id who: context } } } }`;

    const response = await graphql(stack.serviceUrl, query, { id: ids.MEDIUM_SESSION }, FTV1);

    assert.equal(response.errors, undefined);
    const trace = decode(response);
    const item = '{ id:ID! who(context):String }';
    assert.equal(
      render(trace.root),
      ` { session(roomSession):RoomSession { id:ID! participants:RoomParticipantConnection! ` +
        `{ nodes:[RoomParticipant!]! { [0] ${item} [1] ${item} } } } }`,
    );
    assert.equal(trace.root.child[0].parentType, 'Query');
    assert.ok(trace.durationNs > 0);
    const wallNs = (trace.endTime.seconds - trace.startTime.seconds) * 1e9 + (trace.endTime.nanos - trace.startTime.nanos);
    assert.ok(Math.abs(wallNs - trace.durationNs) < 1e6, `${wallNs} vs ${trace.durationNs}`);
    assertTimingsInOrder(trace.root, 0, trace.durationNs);
    assert.ok(!Buffer.from(response.extensions.ftv1, 'base64').includes(ids.MEDIUM_SESSION), 'no variable value');
  });

  test('without the header there is no trace', async () => {
    const response = await graphql(stack.serviceUrl, '{ rooms(first: 1) { totalCount } }');

    assert.equal(response.extensions?.ftv1, undefined);
  });

  test('Apollo Gateway asks our subgraph for its trace and nests it under its fetch, parsed', async () => {
    const query = `query ($id: ID!) { roomSession(id: $id) { id agenda participants(first: 2) { nodes { id } } } }`;

    const response = await graphql(stack.gatewayUrl, query, { id: ids.MEDIUM_SESSION }, FTV1);

    assert.equal(response.errors, undefined);
    const gatewayTrace = decode(response);
    const ours = fetches(gatewayTrace.queryPlan).filter((fetch) => fetch.serviceName === 'rooms');
    assert.equal(ours.length, 1, JSON.stringify(gatewayTrace.queryPlan));
    assert.equal(ours[0].traceParsingFailed, false);
    assert.equal(
      render(ours[0].trace.root),
      ' { roomSession:RoomSession { id:ID! participants:RoomParticipantConnection! ' +
        '{ nodes:[RoomParticipant!]! { [0] { id:ID! } [1] { id:ID! } } } } }',
    );
  });

  test("through the gateway, an unknown participant's error sits at its item under our _entities, masked", async () => {
    const response = await graphql(stack.gatewayUrl, '{ featuredParticipants { id context } }', {}, FTV1);

    assert.equal(response.errors?.length, 1);
    const [ours] = fetches(decode(response).queryPlan).filter((fetch) => fetch.serviceName === 'rooms');
    const entities = ours.trace.root.child.find((node) => node.responseName === '_entities');
    // The known participant's field (async-graphql resolves entities without their index, so
    // it sits under `_entities` itself), then the unknown one's item with its error.
    assert.deepEqual(
      entities.child.map((node) => [render(node), node.error.map((error) => error.message)]),
      [
        ['context:String', []],
        ['[1]', ['<masked>']],
      ],
    );
    assert.deepEqual(JSON.parse(entities.child[1].error[0].json).path, ['_entities', 1]);
  });
});
