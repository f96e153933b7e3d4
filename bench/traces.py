#!/usr/bin/env python3
"""What OpenTelemetry traces cost per query: CPU and latency with traces off, on for every
request, and on for a sampled tenth.

For each configuration it starts the release service against the sample upstream (as
bench/run.py does), tracing to an OTLP/HTTP collector in this process that accepts every export
(its CPU is this script's, not the service's), drives scenario (a) of bench/run.py and (d)
(totalCount only, the cheapest query, where a fixed cost shows most) with wrk, and reports the
service's own user+system CPU per query from /proc, throughput and p50/p99.

    python3 bench/traces.py                 # about 2 minutes
    python3 bench/traces.py --duration 5    # quicker, noisier
    python3 bench/traces.py --baseline /path/to/older/telnyx-rooms-graphql   # and a build without traces

Needs what bench/run.py needs. Linux only (/proc).
"""
import argparse
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ALL_FIELDS, BIN, KEY, LARGE, ROOT, cpu_seconds, free_port, graphql, post_script, wait_for, wrk  # noqa: E402


class Collector(http.server.BaseHTTPRequestHandler):
    """Accepts every OTLP/HTTP export, counting them and their bytes."""
    exports = 0
    received = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Collector.exports += 1
        Collector.received += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def dropped(port):
    """Spans of failed exports, from the service's own metric."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("otel_spans_dropped_total"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--baseline", help="another release binary (e.g. from before traces) to run first, untraced")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)

    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    configurations = [
        *([("baseline binary", {}, args.baseline)] if args.baseline else []),
        ("off", {}),
        ("on, every request", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}),
        ("on, 10% sampled", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                             "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
    ]
    connection = f"edges {{ cursor node {{ {ALL_FIELDS} }} }} pageInfo {{ hasPreviousPage hasNextPage startCursor endCursor }} totalCount"
    scenarios = [("a", "20 participants, all fields", connection, "(first: 20)"), ("d", "totalCount only", "totalCount", "")]

    up_port = free_port()
    upstream = subprocess.Popen([BIN, "--sample-upstream", f"127.0.0.1:{up_port}"], stdout=subprocess.DEVNULL)
    rows = []
    try:
        wait_for(f"http://127.0.0.1:{up_port}/__stats")
        for name, env, *binary in configurations:
            svc_port = free_port()
            service = subprocess.Popen(
                [binary[0] if binary else BIN, "--listen-addr", f"127.0.0.1:{svc_port}", "--telnyx-api-base-url",
                 f"http://127.0.0.1:{up_port}/v2", "--log-format", "json"],
                env={"PATH": os.environ.get("PATH", ""), "TELNYX_API_KEY": KEY, "RUST_LOG": "info", **env},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for(f"http://127.0.0.1:{svc_port}/health")
                with tempfile.TemporaryDirectory() as scripts:
                    for tag, title, selection, arguments in scenarios:
                        query = f'query Bench {{ roomSession(id: "{LARGE}") {{ participants{arguments} {{ {selection} }} }} }}'
                        assert "errors" not in graphql(svc_port, query)
                        script = post_script(scripts, tag, {"query": query, "operationName": "Bench"})
                        url = f"http://127.0.0.1:{svc_port}/graphql"
                        wrk(url, args.warmup, args.connections, script)
                        cpu0, exports0 = cpu_seconds(service.pid), Collector.exports
                        result = wrk(url, args.duration, args.connections, script)
                        result["cpu_us"] = (cpu_seconds(service.pid) - cpu0) / result["requests"] * 1e6
                        result["exports"] = Collector.exports - exports0
                        rows.append((name, tag, title, result, dropped(svc_port)))
            finally:
                service.terminate()
                service.wait(timeout=30)
    finally:
        upstream.terminate()
        upstream.wait(timeout=15)
        collector.shutdown()

    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s after a {args.warmup}s warm-up; {os.cpu_count()} cores; "
          "CPU is the service's own user+system time per query.\n")
    print("| scenario | traces | req/s | p50 / p99 ms | CPU µs/query | exports | spans dropped (export failed) |")
    print("|---|---|---|---|---|---|---|")
    for tag in [s[0] for s in scenarios]:
        for name, row_tag, title, r, lost in rows:
            if row_tag == tag:
                print(f"| ({tag}) {title} | {name} | {r['rps']:.0f} | {r['p50']:.2f} / {r['p99']:.2f} "
                      f"| {r['cpu_us']:.0f} | {r['exports']} | {lost:.0f} |")


if __name__ == "__main__":
    main()
