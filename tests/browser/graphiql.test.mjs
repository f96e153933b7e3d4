import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The process helpers use only Node's standard library, so they need no `npm ci` over there.
import { sleep, startService } from '../support/processes.mjs';
import { launchChromium } from './support/chromium.mjs';

const suiteDir = path.dirname(fileURLToPath(import.meta.url));
const artifactsDir = path.join(suiteDir, 'artifacts');

const SINGLE_SESSION = '51a6e1e0-5e55-4011-8a6b-0c3d2e1f4a5b';
const MEDIUM_SESSION = '5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72';
// A room of the --demo sample, and its session that is under way.
const ROOM = '3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f';
const ACTIVE_SESSION = 'ac71ee5e-5e55-4a1c-9b0d-1e2f3a4b5c6d';
const QUERY = `query FirstThree {
  roomSession(id: "${MEDIUM_SESSION}") {
    participants(first: 3) {
      nodes { id context }
    }
  }
}
`;

// The key --demo trusts and its live room signs with: the published demo seed
// (src/sample_upstream/live.rs, DEMO_SEED), as a PKCS#8 Ed25519 private key. The test signs its
// own webhooks with it too, so one --demo service serves both subscription tests.
const DEMO_SEED = Buffer.from('telnyx-rooms-graphql demo key!!!');
const webhookKeys = {
  privateKey: createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), DEMO_SEED]),
    format: 'der',
    type: 'pkcs8',
  }),
};

/** Posts a `video.room.participant.joined` for ROOM as Telnyx does, signed; its status and body. */
async function deliverJoined(service, eventId) {
  const body = JSON.stringify({
    data: {
      record_type: 'event',
      event_type: 'video.room.participant.joined',
      id: eventId,
      occurred_at: new Date().toISOString(),
      payload: { room_id: ROOM, session_id: ACTIVE_SESSION, participant_id: randomUUID(), context: 'GraphiQL test' },
    },
    meta: { attempt: 1, delivered_to: `${service.baseUrl}/webhooks/telnyx` },
  });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = sign(null, Buffer.from(`${timestamp}|${body}`), webhookKeys.privateKey).toString('base64');
  const response = await fetch(`${service.baseUrl}/webhooks/telnyx`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'telnyx-signature-ed25519': signature,
      'telnyx-timestamp': timestamp,
    },
    body,
  });
  return { status: response.status, body: await response.json() };
}

function isLoopback(url) {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

/** The text of GraphiQL's result pane. */
function resultText(page) {
  return page.locator('.graphiql-response .CodeMirror').evaluate((element) => element.CodeMirror.getValue());
}

/**
 * Replaces the query editor's text and waits until GraphiQL has parsed it (the active tab takes
 * the operation's name); running earlier would send the previous operation's name.
 */
async function replaceQuery(page, query, operationName) {
  await page.locator('.graphiql-query-editor .CodeMirror').evaluate((element, text) => {
    element.CodeMirror.setValue(text);
    element.CodeMirror.focus();
  }, query);
  await page.locator('.graphiql-tab-active', { hasText: operationName }).waitFor({ timeout: 5_000 });
}

describe('GraphiQL in a browser without internet', { timeout: 60_000 }, () => {
  let service;
  let browser;
  let context;
  let page;
  const requested = [];
  const blocked = [];
  const pageErrors = [];
  const consoleMessages = [];
  const graphqlPostHeaders = [];
  // WebSockets are not routed like requests: each one the page opens is recorded with the
  // graphql-transport-ws messages it carries, and checked.
  const websockets = [];

  before(async () => {
    // GraphiQL is embedded in the binary: any working directory will do.
    service = await startService({ demo: true, cwd: os.tmpdir() });
    browser = await launchChromium('graphiql', { viewport: { width: 1280, height: 800 } });
    context = browser.context;
    await context.route('**/*', (route) => {
      const url = route.request().url();
      requested.push(url);
      if (route.request().method() === 'POST') graphqlPostHeaders.push(route.request().headers());
      if (isLoopback(url)) return route.continue();
      blocked.push(url);
      return route.abort('blockedbyclient');
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => consoleMessages.push(`${message.type()}: ${message.text()}`));
    page.on('websocket', (socket) => {
      const opened = { url: socket.url(), sent: [], received: [] };
      websockets.push(opened);
      const type = (frame) => JSON.parse(frame.payload).type;
      socket.on('framesent', (frame) => opened.sent.push(type(frame)));
      socket.on('framereceived', (frame) => opened.received.push(type(frame)));
    });
    await page.goto(service.graphqlUrl);
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ state: 'visible', timeout: 20_000 });
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
  });

  test('the service serves our page, which loads GraphiQL from the service itself', async () => {
    const response = await fetch(service.graphqlUrl, { headers: { Accept: 'text/html' } });

    const html = await response.text();
    assert.equal(response.status, 200);
    assert.match(
      html,
      /\/graphiql\/assets\/graphiql\/graphiql\.min\.js/,
      'the page does not load the embedded GraphiQL',
    );
  });

  test('GraphiQL renders, runs a participants query and shows its result, all from loopback', async () => {
    const expected = await fetch(service.graphqlUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: QUERY }),
    }).then((response) => response.json());
    const expectedIds = expected.data.roomSession.participants.nodes.map((node) => node.id);
    assert.equal(expectedIds.length, 3);

    await replaceQuery(page, QUERY, 'FirstThree');
    await page.locator('.graphiql-execute-button').click();
    const response = page.locator('.graphiql-response .CodeMirror');
    await response.getByText(expectedIds[2]).waitFor({ timeout: 15_000 });

    const shown = await response.evaluate((element) => element.CodeMirror.getValue());
    assert.deepEqual(JSON.parse(shown), expected);
    for (const id of expectedIds) {
      await assert.doesNotReject(response.getByText(id).waitFor({ timeout: 1_000 }), `${id} is on screen`);
    }
    await mkdir(artifactsDir, { recursive: true });
    await page.screenshot({ path: path.join(artifactsDir, 'graphiql.png') });

    assert.deepEqual(blocked, [], 'the page tried to reach beyond loopback');
    const assets = requested.filter((url) => !url.startsWith(service.graphqlUrl));
    assert.ok(assets.length >= 5, `expected our page's assets among ${requested.join(', ')}`);
    assert.ok(
      assets.some((url) => url.endsWith('/graphiql/assets/graphql-ws/umd/graphql-ws.min.js')),
      'the page loads the embedded graphql-ws client',
    );
    for (const url of assets) {
      assert.ok(url.startsWith(`${service.baseUrl}/graphiql/assets/`), `${url} is not one of our assets`);
    }
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleMessages.filter((message) => message.startsWith('error')), []);
  });

  test('the headers editor starts open on an empty object, so GraphiQL sends no Authorization of its own', async () => {
    const headers = await page
      .locator('section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror')
      .evaluate((element) => element.CodeMirror.getValue(), null, { timeout: 5_000 });
    assert.equal(headers, '{}');
    assert.ok(graphqlPostHeaders.length > 0, 'GraphiQL has sent queries');
    for (const sent of graphqlPostHeaders) assert.equal(sent.authorization, undefined);
  });

  test('Ctrl-Enter in the query editor runs a query for a single-participant session', async () => {
    const query = `query OnlyOne {
  roomSession(id: "${SINGLE_SESSION}") { participants(first: 5) { totalCount nodes { id } } }
}`;
    const expected = await fetch(service.graphqlUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query }),
    }).then((response) => response.json());

    await replaceQuery(page, query, 'OnlyOne');
    await page.keyboard.press('Control+Enter');
    const response = page.locator('.graphiql-response .CodeMirror');
    await response.getByText(expected.data.roomSession.participants.nodes[0].id).waitFor({ timeout: 15_000 });

    assert.deepEqual(JSON.parse(await response.evaluate((element) => element.CodeMirror.getValue())), expected);
  });

  test('a subscription runs over graphql-ws to the service and shows an event a signed webhook brings', async () => {
    const subscription = `subscription LiveRoom {
  roomEvents(roomId: "${ROOM}") { __typename id }
}`;
    await replaceQuery(page, subscription, 'LiveRoom');
    await page.locator('.graphiql-execute-button').click();

    // The protocol has no "subscribed" message, and the service registers the subscription only
    // once it has looked the room up: so events are posted until one shows up, each new.
    const wsUrl = service.graphqlUrl.replace(/^http:/, 'ws:');
    const deadline = Date.now() + 20_000;
    while (!websockets.some((socket) => socket.url === wsUrl && socket.sent.includes('subscribe'))) {
      assert.ok(Date.now() < deadline, `GraphiQL sent no subscribe to ${wsUrl}: ${JSON.stringify(websockets)}`);
      await sleep(50);
    }
    const posted = [];
    let shown;
    while (!shown) {
      const late = Date.now() >= deadline;
      assert.ok(!late, `none of ${posted.join(', ')} reached the result pane: ${await resultText(page)}`);
      const eventId = randomUUID();
      const delivered = await deliverJoined(service, eventId);
      const outcome = [delivered.status, delivered.body.outcome];
      assert.deepEqual(outcome, [200, 'accepted'], JSON.stringify(delivered.body));
      posted.push(eventId);
      for (let polls = 0; polls < 10 && !shown; polls += 1) {
        await sleep(100);
        const text = await resultText(page);
        if (posted.some((id) => text.includes(id))) shown = JSON.parse(text);
      }
    }

    assert.equal(shown.errors, undefined, JSON.stringify(shown));
    assert.equal(shown.data.roomEvents.__typename, 'ParticipantJoined');
    assert.ok(posted.includes(shown.data.roomEvents.id), `${shown.data.roomEvents.id} is not one of ${posted}`);
    await mkdir(artifactsDir, { recursive: true });
    await page.screenshot({ path: path.join(artifactsDir, 'graphiql-subscription.png') });

    const socket = websockets.find((opened) => opened.url === wsUrl);
    assert.deepEqual(socket.sent.slice(0, 2), ['connection_init', 'subscribe']);
    assert.equal(socket.received[0], 'connection_ack');
    assert.ok(socket.received.includes('next'));
    for (const { url } of websockets) assert.ok(isLoopback(url), `a WebSocket to ${url}`);
    assert.deepEqual(blocked, [], 'the page tried to reach beyond loopback');
    // The button stops a running subscription (the next test starts its own).
    await page.locator('.graphiql-execute-button').click();
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleMessages.filter((message) => message.startsWith('error')), []);
  });

  test('the subscription --demo prints shows the live room in GraphiQL within seconds', async () => {
    const [, printed] = await service.child.waitForOutput(/^ +(subscription \{.*\})$/m);
    // Named, so that replaceQuery can tell when GraphiQL has parsed it.
    // Named as the previous test's subscription: GraphiQL 4 may keep sending the last
    // operation name it ran with the next document.
    await replaceQuery(page, printed.replace(/^subscription /, 'subscription LiveRoom '), 'LiveRoom');
    await page.locator('.graphiql-execute-button').click();
    const response = page.locator('.graphiql-response .CodeMirror');
    // `participant` is only in this subscription's results, not the previous test's.
    await response.getByText(/"participant": \{/).waitFor({ timeout: 15_000 }).catch(async (error) => {
      await page.screenshot({ path: path.join(artifactsDir, 'graphiql-live-failed.png') });
      throw new Error(`${error.message}; the result pane shows: ${await resultText(page)}`);
    });

    const shown = JSON.parse(await response.evaluate((element) => element.CodeMirror.getValue()));
    assert.match(shown.data.roomEvents.participant.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleMessages.filter((message) => message.startsWith('error')), []);
  });
});
