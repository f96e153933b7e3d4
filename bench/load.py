#!/usr/bin/env python3
"""Load test: the release service at high concurrency against a sample upstream that fails
on purpose (503s, 429s with Retry-After, slow answers), to show it keeps answering, never
panics, drops no connection, and gives its memory back afterwards. Run by hand, not in CI:

    python3 bench/load.py                       # 1,000 connections for 30 s
    python3 bench/load.py --connections 200 --duration 10

Reports requests served, GraphQL outcomes by error code, p50/p99 latency, peak RSS, RSS
after the load, connection errors and panics. Needs: cargo, wrk (apt-get installs it).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, KEY, LARGE, ROOT, free_port, rss_kib, wait_for  # noqa: E402

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {
  '{"query":"{ roomSession(id: \\"%s\\") { participants(first: 20) { edges { cursor node { id context joinedAt } } pageInfo { hasNextPage endCursor } totalCount } } }"}',
  '{"query":"{ roomSession(id: \\"%s\\") { participants { totalCount } } }"}',
  '{"query":"{ roomSession(id: \\"%s\\") { participants(last: 5) { nodes { id session { active } } } } }"}',
}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i %% #bodies) + 1])
end
counts = {}
response = function(status, headers, body)
  local code = "OK"
  if status ~= 200 then code = "HTTP_" .. status
  elseif body:find('"errors"', 1, true) then code = body:match('"code":"([A-Z_]+)"') or "ERROR_WITHOUT_CODE" end
  counts[code] = (counts[code] or 0) + 1
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("counts")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("outcome %%s %%d\n", code, n)) end
end
""" % (LARGE, LARGE, LARGE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--settle", type=int, default=10, help="seconds to wait before measuring RSS after the load")
    parser.add_argument("--faults", default="503:20,429:50,slow:200", help="sample upstream fault mix")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)

    up_port, svc_port = free_port(), free_port()
    logs = tempfile.NamedTemporaryFile(prefix="load-", suffix=".log", delete=False)
    upstream = subprocess.Popen([BIN, "--sample-upstream", f"127.0.0.1:{up_port}", "--sample-faults", args.faults],
                                stdout=subprocess.DEVNULL)
    service = subprocess.Popen(
        [BIN, "--listen-addr", f"127.0.0.1:{svc_port}", "--telnyx-api-base-url", f"http://127.0.0.1:{up_port}/v2",
         "--log-format", "json", "--upstream-retry-base-ms", "50"],
        env={**os.environ, "TELNYX_API_KEY": KEY, "RUST_LOG": "warn"}, stdout=logs, stderr=logs)
    try:
        wait_for(f"http://127.0.0.1:{svc_port}/health")
        time.sleep(0.5)
        idle = rss_kib(service.pid, "VmRSS")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "20s", "--latency",
               "-s", script.name, f"http://127.0.0.1:{svc_port}/graphql"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        peak = rss_kib(service.pid, "VmHWM")
        time.sleep(args.settle)
        after = rss_kib(service.pid, "VmRSS")
        alive = service.poll() is None
    finally:
        service.terminate()
        upstream.terminate()
        status = service.wait(timeout=30)
        upstream.wait(timeout=10)
    log = open(logs.name).read()
    requests = re.search(r"(\d+) requests in", out).group(1)
    socket = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    print(f"\n{args.connections} connections for {args.duration}s, upstream faults {args.faults}")
    print(f"requests served: {requests}; p50 {p50}, p99 {p99}")
    for line in sorted(l for l in out.splitlines() if l.startswith("outcome ")):
        print("  " + line)
    print(f"connection errors: {socket.group(1) if socket else 'none'}")
    print(f"panics in the service log: {log.count('panicked')}; alive during the run: {alive}; exit status {status}")
    print(f"RSS: idle {idle / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, {args.settle} s after the load {after / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
