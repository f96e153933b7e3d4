#!/usr/bin/env python3
"""Benchmark the facade against the sample upstream it fronts, side by side.

For each scenario it drives the service (GraphQL) and the sample upstream directly (the REST
equivalent) with wrk on loopback at a fixed concurrency for a fixed time, after a warm-up, and
reports throughput, p50/p99 latency, each process's own CPU time per request (from
/proc/<pid>/stat, so the load generator's CPU does not count), peak RSS, upstream requests
per GraphQL query, and facade/direct ratios, as a Markdown table. Then scenario (d) through a
bare proxy on the same stack (`bench/floor.rs`: the floor under the facade's two HTTP
exchanges), the added latency at one connection, RSS under 1,000 connections, and scenario (a)
sent as a new document every time (what a document costs before it is cached and compiled).

    python3 bench/run.py                 # full run (about 3 minutes)
    python3 bench/run.py --duration 3    # quicker, noisier

Needs: cargo, wrk (installed with apt-get if missing). Linux only (/proc).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "telnyx-rooms-graphql")
KEY = "KEYSAMPLE0demo0telnyx0rooms0graphql"
LARGE = "7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d"
TICKS = os.sysconf("SC_CLK_TCK")
ALL_FIELDS = "id sessionId context joinedAt updatedAt leftAt"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, headers=None, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def graphql(port, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))


def upstream_requests(port):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats"))["requests"]


def wrk(url, seconds, connections, script=None, headers=()):
    cmd = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    for header in headers:
        cmd += ["-H", header]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return {"requests": requests, "rps": requests / seconds, "p50": ms("50"), "p99": ms("99"), "errors": errors}


def fresh_script(directory, query):
    """A script whose every request is a document the service has not seen: the query with a
    comment numbered per wrk thread and request, so every request is parsed, validated in full
    and compiled into a plan (the document cache and its plans never hit)."""
    path = os.path.join(directory, "fresh.lua")
    head, tail = json.dumps({"query": query + " # "})[:-2], '"}'
    with open(path, "w") as f:
        f.write("local threads = 0\n")
        f.write('function setup(thread) threads = threads + 1; thread:set("tid", threads) end\n')
        f.write("counter = 0\n")
        f.write("request = function()\n  counter = counter + 1\n")
        f.write(f"  local body = {json.dumps(head)} .. tid .. '-' .. counter .. {json.dumps(tail)}\n")
        f.write('  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json"}, body)\nend\n')
    return path


def floor_run(floor_bin, up_port, rest, script, args):
    """Scenario (d) through the bare proxy of `bench/floor.rs`, in its own process, as the
    facade is measured: its throughput and CPU per query."""
    port = free_port()
    proxy = subprocess.Popen([floor_bin, f"127.0.0.1:{port}", rest], stdout=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        url = f"http://127.0.0.1:{port}/graphql"
        wrk(url, args.warmup, args.connections, script)
        cpu0 = cpu_seconds(proxy.pid)
        run = wrk(url, args.duration, args.connections, script)
        run["cpu_us"] = (cpu_seconds(proxy.pid) - cpu0) / run["requests"] * 1e6
        return run
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)


def post_script(directory, name, payload):
    path = os.path.join(directory, f"{name}.lua")
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = {json.dumps(json.dumps(payload))}\n")
    return path


def bench_executable(name):
    """Builds the bench target `name` with the release profile and returns its executable."""
    out = subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--bench", name,
                          "--message-format=json"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == name:
            return message["executable"]
    sys.exit(f"cargo built no executable for the {name} bench")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    floor_bin = bench_executable("floor")

    up_port, svc_port = free_port(), free_port()
    upstream = subprocess.Popen([BIN, "--sample-upstream", f"127.0.0.1:{up_port}"], stdout=subprocess.DEVNULL)
    service = subprocess.Popen(
        [BIN, "--listen-addr", f"127.0.0.1:{svc_port}", "--telnyx-api-base-url", f"http://127.0.0.1:{up_port}/v2",
         "--log-format", "json", "--max-upstream-requests", "1000"],
        env={**os.environ, "TELNYX_API_KEY": KEY, "RUST_LOG": "info"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{svc_port}/health")
        wait_for(f"http://127.0.0.1:{up_port}/__stats")
        time.sleep(0.5)
        idle_rss = rss_kib(service.pid, "VmRSS")

        after4 = graphql(svc_port, f'{{ roomSession(id: "{LARGE}") {{ participants(first: 5) {{ pageInfo {{ endCursor }} }} }} }}')
        cursor = after4["data"]["roomSession"]["participants"]["pageInfo"]["endCursor"]
        connection = f"edges {{ cursor node {{ {ALL_FIELDS} }} }} pageInfo {{ hasPreviousPage hasNextPage startCursor endCursor }} totalCount"
        rest = f"http://127.0.0.1:{up_port}/v2/room_sessions/{LARGE}/participants"
        scenarios = [
            ("a", "20 participants, all fields", f"first: 20", connection, "page[size]=20&page[number]=1", 1),
            ("b", "250 participants", "first: 250", connection, "page[size]=250&page[number]=1", 1),
            ("c", "first: 1000 (fan-out)", "first: 1000", connection, "page[size]=250&page[number]=1", 4),
            ("d", "totalCount only", "", "totalCount", "page[size]=1&page[number]=1", 1),
            ("e", "filtered (context)", 'first: 20, filter: { context: "Alice" }', connection,
             "filter[context]=Alice&page[size]=20&page[number]=1", 1),
            ("f", "unaligned after window", f'first: 20, after: "{cursor}"', connection, "page[size]=25&page[number]=1", 1),
        ]
        rows = []
        with tempfile.TemporaryDirectory() as scripts:
            for tag, title, arguments, selection, rest_query, minimum in scenarios:
                arguments = f"({arguments})" if arguments else ""
                query = f'query Bench {{ roomSession(id: "{LARGE}") {{ participants{arguments} {{ {selection} }} }} }}'
                check = graphql(svc_port, query)
                assert "errors" not in check, check
                script = post_script(scripts, tag, {"query": query, "operationName": "Bench"})
                url = f"http://127.0.0.1:{svc_port}/graphql"
                wrk(url, args.warmup, args.connections, script)
                cpu0, up0 = cpu_seconds(service.pid), upstream_requests(up_port)
                facade = wrk(url, args.duration, args.connections, script)
                facade["cpu_us"] = (cpu_seconds(service.pid) - cpu0) / facade["requests"] * 1e6
                facade["upstream_per_query"] = (upstream_requests(up_port) - up0) / facade["requests"]

                headers = [f"Authorization: Bearer {KEY}"]
                direct_url = f"{rest}?{rest_query}"
                wrk(direct_url, args.warmup, args.connections, headers=headers)
                cpu0 = cpu_seconds(upstream.pid)
                direct = wrk(direct_url, args.duration, args.connections, headers=headers)
                direct["cpu_us"] = (cpu_seconds(upstream.pid) - cpu0) / direct["requests"] * 1e6
                rows.append((tag, title, minimum, facade, direct))
                if tag == "d":
                    floor = floor_run(floor_bin, up_port, rest, script, args)
                if tag == "a":
                    # Added latency at moderate load: one request at a time, nothing queued.
                    calm = (wrk(url, args.duration, 1, script), wrk(direct_url, args.duration, 1, headers=headers))
                    first_seen = (query, direct["cpu_us"])

        # RSS under 1,000 concurrent connections (scenario a).
        with tempfile.TemporaryDirectory() as scripts:
            query = f'{{ roomSession(id: "{LARGE}") {{ participants(first: 20) {{ {connection} }} }} }}'
            script = post_script(scripts, "many", {"query": query})
            many = wrk(f"http://127.0.0.1:{svc_port}/graphql", args.duration, 1000, script)
        peak_rss = rss_kib(service.pid, "VmHWM")
        time.sleep(2)
        after_rss = rss_kib(service.pid, "VmRSS")

        # Last (its thousand new documents fill the document cache): scenario (a)'s query as a
        # document never seen before, every time.
        with tempfile.TemporaryDirectory() as scripts:
            fresh_lua = fresh_script(scripts, first_seen[0])
            url = f"http://127.0.0.1:{svc_port}/graphql"
            wrk(url, args.warmup, args.connections, fresh_lua)
            cpu0 = cpu_seconds(service.pid)
            fresh = wrk(url, args.duration, args.connections, fresh_lua)
            fresh["cpu_us"] = (cpu_seconds(service.pid) - cpu0) / fresh["requests"] * 1e6
    finally:
        for process in (service, upstream):
            process.terminate()
            process.wait(timeout=15)

    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s after a {args.warmup}s warm-up; "
          f"{os.cpu_count()} cores; CPU is each process's own user+system time per request.\n")
    print("| scenario | facade req/s | direct req/s | facade p50 / p99 ms | direct p50 / p99 ms | added p50 ms "
          "| facade CPU µs/query | upstream CPU µs/equivalent | CPU ratio | throughput ratio | upstream req/query (min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for tag, title, minimum, f, d in rows:
        per_query = f["upstream_per_query"]
        direct_cpu = d["cpu_us"] * per_query
        # A query that fans out costs `per_query` REST requests; compare like with like.
        direct_rps = d["rps"] / max(per_query, 1e-9)
        print(f"| ({tag}) {title} | {f['rps']:.0f} | {direct_rps:.0f} | {f['p50']:.2f} / {f['p99']:.2f} "
              f"| {d['p50']:.2f} / {d['p99']:.2f} | {f['p50'] - d['p50']:.2f} | {f['cpu_us']:.0f} | {direct_cpu:.0f} "
              f"| {f['cpu_us'] / direct_cpu:.2f}× | {f['rps'] / direct_rps:.2f}× | {per_query:.2f} ({minimum}) |")
    d_row = next(row for row in rows if row[0] == "d")
    print(f"\nFloor for (d): a bare axum + reqwest proxy making the same upstream request (bench/floor.rs): "
          f"{floor['rps']:.0f} req/s, CPU {floor['cpu_us']:.0f} µs/query, "
          f"{floor['cpu_us'] / d_row[4]['cpu_us']:.2f}× the upstream's; the facade "
          f"{d_row[3]['cpu_us'] / floor['cpu_us']:.2f}× the floor's.")
    print(f"\nModerate load (one connection), scenario (a): facade p50 {calm[0]['p50']:.3f} ms, direct p50 "
          f"{calm[1]['p50']:.3f} ms: {calm[0]['p50'] - calm[1]['p50']:.3f} ms added.")
    print(f"\nFirst-seen documents, scenario (a) (each request a new document text): facade CPU "
          f"{fresh['cpu_us']:.0f} µs/query, {fresh['cpu_us'] / first_seen[1]:.2f}× the upstream's, "
          f"{fresh['rps']:.0f} req/s.")
    errors = sum(f["errors"] + d["errors"] for _, _, _, f, d in rows) + many["errors"] + fresh["errors"] + floor["errors"]
    print(f"\nRSS: idle {idle_rss / 1024:.1f} MiB; peak {peak_rss / 1024:.1f} MiB under 1,000 connections "
          f"({many['rps']:.0f} req/s, p99 {many['p99']:.1f} ms); {after_rss / 1024:.1f} MiB 2 s later. "
          f"Non-2xx/socket errors: {errors}.")


if __name__ == "__main__":
    main()
