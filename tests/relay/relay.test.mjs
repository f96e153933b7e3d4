// Proves that a real Relay app works against the service: relay-compiler compiles app/ against
// the repository's schema.graphql (`npm test` runs it first, so a schema change that breaks
// Relay's compiler, e.g. `@refetchable` on the `RoomSession` fragment needing `Node` and
// `node(id:)`, fails the suite), and react-relay's `usePaginationFragment`, rendered with
// react-test-renderer, then
//   - pages forward with `loadNext` to the end and backward with `loadPrevious` to the start,
//     rendering exactly the sample's participants in the upstream's order;
//   - resets the connection on `refetch` with another filter;
//   - sends each page as the `node(id:)` refetch query relay-compiler generated, and every such
//     page costs exactly the upstream requests asserted here, the same as the same selection
//     asked through `roomSession(id:)`, with the same data.
// Upstream requests are seen through a recording proxy between the service and the sample
// upstream.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';

import environmentModule from './app/environment.js';
import { startSampleUpstream, startService } from '../support/processes.mjs';
import { startRecordingProxy } from './support/recording-proxy.mjs';
import { SAMPLE_API_KEY, allParticipants, graphql, ids } from '../support/sample.mjs';
import { Screen } from './support/screen.mjs';

const { createEnvironment } = environmentModule;
const SESSION = ids.MEDIUM_SESSION;

/** The upstream request for one aligned page of the session's participants, as the service sends it. */
function page(size, number, { context } = {}) {
  const filter = context === undefined ? '' : `filter[context]=${encodeURIComponent(context)}&`;
  return `GET /v2/room_sessions/${SESSION}/participants?${filter}page[size]=${size}&page[number]=${number}`;
}

describe('a Relay app paging RoomSession.participants with usePaginationFragment', { timeout: 60_000 }, () => {
  const stops = [];
  let proxy;
  let service;
  let participants;
  let screen;
  let consoleMessages;
  const consoleMethods = {};

  before(async () => {
    try {
      const upstream = await startSampleUpstream();
      stops.push(upstream.stop);
      proxy = await startRecordingProxy(upstream.baseUrl);
      stops.push(proxy.stop);
      service = await startService({ upstreamBaseUrl: proxy.baseUrl, apiKey: SAMPLE_API_KEY });
      stops.push(service.stop);
      // Straight from the sample upstream, not through the proxy or the service.
      participants = await allParticipants(upstream.baseUrl, SESSION);
    } catch (error) {
      await stopAll();
      throw error;
    }
    assert.equal(participants.length, 53, 'the sample upstream still seeds 53 participants in this session');
  });

  after(stopAll);

  async function stopAll() {
    const results = await Promise.allSettled(stops.reverse().map((stop) => stop()));
    stops.length = 0;
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  // React and Relay report misuse (missing fields, unkeyed lists, ...) on the console: any such
  // report fails the test.
  beforeEach(() => {
    consoleMessages = [];
    for (const method of ['error', 'warn']) {
      consoleMethods[method] = console[method];
      console[method] = (...args) => consoleMessages.push(`console.${method}: ${args.join(' ')}`);
    }
    proxy.take();
  });

  afterEach(() => {
    screen?.unmount();
    screen = undefined;
    Object.assign(console, consoleMethods);
    assert.deepEqual(consoleMessages, []);
  });

  /** Renders the app; `operations` collects what its network layer sent, with the responses. */
  function render(props) {
    const operations = [];
    const environment = createEnvironment(service.graphqlUrl, { onOperation: (operation) => operations.push(operation) });
    screen = new Screen({ environment, sessionId: SESSION, ...props });
    return operations;
  }

  function idsOf(list) {
    return list.map(({ id }) => id);
  }

  /**
   * Checks that `operation` was Relay's refetch query through `node(id:)` with `variables`, and that
   * the upstream requests it cost (`upstream`) are the ones the same selection costs through
   * `roomSession(id:)`, which also returns the same data.
   */
  async function assertRefetchThroughNode(operation, variables, upstream) {
    assert.equal(operation.name, 'ParticipantListPaginationQuery');
    assert.match(operation.text, /^\s*node\(id: \$id\) \{$/m);
    assert.deepEqual(operation.variables, { id: SESSION, ...variables });

    const direct = operation.text.replace('node(id: $id) {', 'roomSession(id: $id) {');
    assert.notEqual(direct, operation.text);
    const body = await graphql(service.graphqlUrl, direct, operation.variables);
    assert.equal(body.errors, undefined);
    assert.deepEqual(proxy.take(), upstream, `${direct} costs the same upstream requests as through node(id:)`);
    assert.deepEqual(body.data.roomSession, operation.response.data.node);
  }

  test('loadNext pages forward to the end: every participant once, in order, one upstream page each', async () => {
    const operations = render({ first: 10 });
    let state = await screen.until((s) => s.ids.length > 0, 'the first page is rendered');

    assert.deepEqual(screen.renderedIds(), idsOf(participants.slice(0, 10)));
    assert.equal(screen.renderedTotalCount(), 53);
    assert.equal(operations.length, 1);
    assert.equal(operations[0].name, 'ParticipantListQuery');
    assert.match(operations[0].text, /^\s*roomSession\(id: \$id\) \{$/m);
    assert.deepEqual(proxy.take(), [page(10, 1)]);

    for (let number = 2; state.hasNext; number++) {
      assert.ok(number <= 6, 'hasNext is still true after all 53 participants');
      const endCursor = state.data.participants.edges.at(-1).cursor;
      state = await screen.load('next', 10);

      assert.deepEqual(screen.renderedIds(), idsOf(participants.slice(0, number * 10)));
      assert.equal(operations.length, number);
      const upstream = proxy.take();
      assert.deepEqual(upstream, [page(10, number)], `loadNext #${number - 1}`);
      await assertRefetchThroughNode(
        operations.at(-1),
        { filter: null, first: 10, after: endCursor, last: null, before: null },
        upstream,
      );
    }

    assert.equal(operations.length, 6);
    assert.deepEqual(screen.renderedIds(), idsOf(participants));
    assert.equal(state.hasPrevious, false);
  });

  test('loadPrevious pages backward from the end to the start: every participant once, in order', async () => {
    const operations = render({ last: 10 });
    let state = await screen.until((s) => s.ids.length > 0, 'the last page is rendered');

    assert.deepEqual(screen.renderedIds(), idsOf(participants.slice(43)));
    assert.equal(operations[0].name, 'ParticipantListQuery');
    // Without a cursor the end is unknown: one request for the total, then one page that holds
    // offsets 43..52.
    assert.deepEqual(proxy.take(), [page(1, 1), page(14, 4)]);

    // Each window before a cursor, [start, start + 10), lies inside one aligned page: the
    // smallest that holds it.
    const expectedUpstream = [
      [page(11, 4)], // 33..42 in 33..43
      [page(11, 3)], // 23..32 in 22..32
      [page(12, 2)], // 13..22 in 12..23
      [page(13, 1)], // 3..12 in 0..12
      [page(3, 1)], // 0..2
    ];
    for (const [index, upstreamPage] of expectedUpstream.entries()) {
      assert.ok(state.hasPrevious, `hasPrevious before loadPrevious #${index + 1}`);
      const startCursor = state.data.participants.edges[0].cursor;
      state = await screen.load('previous', 10);

      const start = Math.max(0, 43 - (index + 1) * 10);
      assert.deepEqual(screen.renderedIds(), idsOf(participants.slice(start)));
      const upstream = proxy.take();
      assert.deepEqual(upstream, upstreamPage, `loadPrevious #${index + 1}`);
      await assertRefetchThroughNode(
        operations.at(-1),
        { filter: null, first: null, after: null, last: 10, before: startCursor },
        upstream,
      );
    }

    assert.equal(state.hasPrevious, false);
    assert.equal(state.hasNext, false);
    assert.equal(operations.length, 6);
    assert.deepEqual(screen.renderedIds(), idsOf(participants));
  });

  test('refetch with another filter resets the connection to the filtered list', async () => {
    const operations = render({ first: 4 });
    let state = await screen.until((s) => s.ids.length > 0, 'the first page is rendered');
    state = await screen.load('next', 4);
    assert.deepEqual(screen.renderedIds(), idsOf(participants.slice(0, 8)));
    proxy.take();

    // Two contexts the sample repeats, each spanning several pages of 4; both need encoding.
    for (const context of ['Zoë 🎥', 'a&b=c + d%']) {
      const selected = participants.filter((participant) => participant.context === context);
      assert.ok(selected.length > 8 && selected.length < 12, `${context} selects 9 to 11 participants`);

      const previous = state;
      state.refetch({ filter: { context } });
      state = await screen.until(
        (s) => s !== previous && s.data.participants.edges.every((edge) => edge.node.context === context),
        `the refetch with context ${context} is rendered`,
      );

      // Only the filtered list's first page: nothing kept from the unfiltered connection.
      assert.deepEqual(screen.renderedIds(), idsOf(selected.slice(0, 4)));
      assert.equal(screen.renderedTotalCount(), selected.length);
      assert.equal(state.hasPrevious, false);
      const refetchUpstream = proxy.take();
      assert.deepEqual(refetchUpstream, [page(4, 1, { context })]);
      await assertRefetchThroughNode(
        operations.at(-1),
        { filter: { context }, first: 4, after: null, last: null, before: null },
        refetchUpstream,
      );

      for (let number = 2; state.hasNext; number++) {
        assert.ok(number <= 3, `hasNext is still true after all ${selected.length} ${context} participants`);
        const endCursor = state.data.participants.edges.at(-1).cursor;
        state = await screen.load('next', 4);
        const upstream = proxy.take();
        assert.deepEqual(upstream, [page(4, number, { context })]);
        await assertRefetchThroughNode(
          operations.at(-1),
          { filter: { context }, first: 4, after: endCursor, last: null, before: null },
          upstream,
        );
      }
      assert.deepEqual(screen.renderedIds(), idsOf(selected));
    }
  });
});
