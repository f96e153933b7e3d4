// Starts the service binary (as the service or as the sample upstream) on loopback, waits until it
// is ready, and stops everything it started, even when a test fails or the runner is interrupted.
// Shared by the Node suites (federation, browser, relay, live); it uses Node's built-ins only.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The service binary: `SERVICE_BIN` (relative to the working directory) or the debug build. */
export const serviceBin = process.env.SERVICE_BIN
  ? path.resolve(process.env.SERVICE_BIN)
  : path.resolve(repoDir, 'target/debug/telnyx-rooms-graphql');

const running = new Set();

// Last resort for a runner that exits without running `after` hooks (e.g. on a timeout).
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A loopback port that was free a moment ago (the kernel hands out a fresh one each time). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running child process (the service binary, or `options.command`) whose output is kept for error messages. */
class Child {
  constructor(name, args, options) {
    if (!options.command && !existsSync(serviceBin)) {
      throw new Error(`${serviceBin} does not exist: run \`cargo build\` first or set SERVICE_BIN`);
    }
    this.name = name;
    this.output = '';
    this.process = spawn(options.command ?? serviceBin, args, {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG ?? 'info', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.process);
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        running.delete(this.process);
        resolve({ code, signal });
      });
    });
    for (const stream of [this.process.stdout, this.process.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        this.output += chunk;
      });
    }
  }

  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
  async waitForOutput(pattern, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      await this.checkAlive(deadline, `${pattern}`);
      await sleep(25);
    }
  }

  /** Resolves once `GET <baseUrl>/health` answers 200. */
  async waitForHealth(baseUrl, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const response = await fetch(`${baseUrl}/health`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await this.checkAlive(deadline, `${baseUrl}/health`);
      await sleep(50);
    }
  }

  async checkAlive(deadline, waitingFor) {
    if (this.process.exitCode !== null || this.process.signalCode !== null) {
      throw new Error(`${this.name} exited while waiting for ${waitingFor}:\n${this.output}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${this.name} timed out waiting for ${waitingFor}:\n${this.output}`);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves with how it ended. */
  async stop(graceMs = 5_000) {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
      const ended = await this.exited;
      clearTimeout(timer);
      return ended;
    }
    return this.exited;
  }
}

/** The seeded fake Telnyx API on an ephemeral loopback port; `baseUrl` ends in `/v2`. */
export async function startSampleUpstream() {
  const child = new Child('sample upstream', ['--sample-upstream', '127.0.0.1:0'], {});
  try {
    const [, baseUrl] = await child.waitForOutput(/Sample upstream: (http:\/\/\S+\/v2)/);
    return { baseUrl, stop: () => child.stop(), child };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * The service on a free loopback port, against `upstreamBaseUrl` (or its own sample with `demo`);
 * `env` adds to (or overrides) the environment it inherits.
 */
export async function startService({ upstreamBaseUrl, apiKey, demo = false, extraArgs = [], cwd, env, port: wanted } = {}) {
  // A given port lets a test restart a replica where its clients will reconnect.
  const port = wanted ?? (await freePort());
  const args = ['--listen-addr', `127.0.0.1:${port}`, ...extraArgs];
  if (demo) args.push('--demo');
  if (upstreamBaseUrl) args.push('--telnyx-api-base-url', upstreamBaseUrl);
  if (apiKey) args.push('--telnyx-api-key', apiKey);
  const child = new Child('service', args, { cwd, env });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await child.waitForHealth(baseUrl);
    return {
      baseUrl,
      graphqlUrl: `${baseUrl}/graphql`,
      wsUrl: `ws://127.0.0.1:${port}/graphql`,
      stop: () => child.stop(),
      child,
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * A real `redis-server` (Debian's; `.ci/run` installs it) on a free loopback port, persisting
 * nothing; `url` for `REDIS_URL`, `stop()` kills it by its PID.
 */
export async function startRedis() {
  const port = await freePort();
  const child = new Child('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    command: 'redis-server',
  });
  try {
    await child.waitForOutput(/Ready to accept connections/);
    return { url: `redis://127.0.0.1:${port}`, stop: () => child.stop(), child };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * A real `haproxy` (Debian's; `.ci/run` installs it) on a free loopback port in front of
 * `backends` (`host:port` strings), configured as docs/deploy.md recommends for this service:
 * health checks on `/ready`, WebSockets tunnelled, a refused connection or a 503 retried on
 * another replica (never a request the replica may have started), `X-Forwarded-For` appended.
 * `url`; `states()` reads each server's UP/DOWN from the stats page; `stop()` kills it by PID.
 */
export async function startHaproxy(backends) {
  const [port, statsPort] = [await freePort(), await freePort()];
  const servers = backends
    .map((backend, i) => `  server r${i} ${backend} check inter 250ms fall 1 rise 2`)
    .join('\n');
  const config = `global
  maxconn 4096
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout http-keep-alive 10s
  option forwardfor
  retries 3
  option redispatch 1
  retry-on conn-failure 503
frontend graphql
  bind 127.0.0.1:${port}
  default_backend replicas
frontend stats
  bind 127.0.0.1:${statsPort}
  stats enable
  stats uri /stats
backend replicas
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
${servers}
`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = new Child('haproxy', ['-db', '-f', file], { command: 'haproxy' });
  const states = async () => {
    const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
    return csv
      .split('\n')
      .map((line) => line.split(','))
      .filter((fields) => fields[0] === 'replicas' && fields[1].startsWith('r'))
      .map((fields) => fields[17]);
  };
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if ((await states()).every((state) => state === 'UP')) break;
      } catch {
        // Not listening yet.
      }
      await child.checkAlive(deadline, 'every replica UP in haproxy');
      await sleep(50);
    }
    return { url: `http://127.0.0.1:${port}`, states, stop: () => child.stop(), child };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
