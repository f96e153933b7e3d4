import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

// The process helpers use only Node's standard library, so they need no `npm ci` over there.
import { startService } from '../federation/support/processes.mjs';

const suiteDir = path.dirname(fileURLToPath(import.meta.url));
const artifactsDir = path.join(suiteDir, 'artifacts');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const SINGLE_SESSION = '51a6e1e0-5e55-4011-8a6b-0c3d2e1f4a5b';
const MEDIUM_SESSION = '5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72';
const QUERY = `query FirstThree {
  roomSession(id: "${MEDIUM_SESSION}") {
    participants(first: 3) {
      nodes { id context }
    }
  }
}
`;

function isLoopback(url) {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
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
  let userDataDir;
  let context;
  let page;
  const requested = [];
  const blocked = [];
  const pageErrors = [];
  const consoleMessages = [];
  const graphqlPostHeaders = [];

  before(async () => {
    // GraphiQL is embedded in the binary: any working directory will do.
    service = await startService({ demo: true, cwd: os.tmpdir() });
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'graphiql-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
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
    await page.goto(service.graphqlUrl);
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ state: 'visible', timeout: 20_000 });
  });

  after(async () => {
    await context?.close();
    await service?.stop();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
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
    assert.ok(assets.length >= 4, `expected our page's assets among ${requested.join(', ')}`);
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

  test('the subscription --demo prints shows the live room in GraphiQL within seconds', async () => {
    const [, printed] = await service.child.waitForOutput(/^ +(subscription \{.*\})$/m);
    // Named, so that replaceQuery can tell when GraphiQL has parsed it.
    await replaceQuery(page, printed.replace(/^subscription /, 'subscription Live '), 'Live');
    await page.locator('.graphiql-execute-button').click();
    const response = page.locator('.graphiql-response .CodeMirror');
    await response.getByText(/"__typename": "Participant(Joined|Left)"/).waitFor({ timeout: 15_000 });

    const shown = JSON.parse(await response.evaluate((element) => element.CodeMirror.getValue()));
    assert.match(shown.data.roomEvents.participant.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleMessages.filter((message) => message.startsWith('error')), []);
  });
});
