#!/usr/bin/env python3
"""Hostile load: does ordinary traffic stay fast while hostile documents arrive?

Runs the release service against the sample upstream in two phases of equal length:
ordinary traffic alone, then the same traffic while hostile documents arrive at a fixed rate
(fragment cycles, values nested 5,000 deep, fan-out fragment chains, 240 KB of directives, and
the most expensive documents the limits still admit: 15,000 tokens, 64 levels, 5,000 expanded
fields). Reports p50/p99 of the ordinary queries and of `/health` in each phase, the ratio
between the phases, what the hostile documents were answered, the service's CPU, and whether
it stayed up. Run by hand, not in CI:

    python3 bench/hostile.py                     # 20 s per phase, 50 hostile documents/s
    python3 bench/hostile.py --rate 200 --duration 10

Needs: cargo and Python 3 (standard library only). Linux only (/proc).
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, KEY, LARGE, ROOT, cpu_seconds, free_port, wait_for  # noqa: E402

ORDINARY = json.dumps({
    "query": "query($id: ID!) { roomSession(id: $id) { participants(first: 20) "
             "{ edges { cursor node { id context joinedAt } } pageInfo { hasNextPage endCursor } totalCount } } }",
    "variables": {"id": LARGE},
})


def hostile_documents():
    """(name, JSON body) of each attack, cycled through at the chosen rate."""
    fan_out = "query { ...F0 }" + "".join(f" fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    fan_out += " fragment F40 on Query { __typename }"
    nested_fan_out = "query { rooms(first: 1) { nodes { ...R0 } } }" + "".join(
        f" fragment R{i} on Room {{ ...R{i + 1} ...R{i + 1} }}" for i in range(30)) + " fragment R30 on Room { id }"
    widest = "{ rooms(first: 1) { nodes { " + " ".join("id" for _ in range(4_990)) + " } } }"
    most_tokens = "{ " + " ".join(f"f{i}" for i in range(14_990)) + " }"
    deepest = "{ rooms(filter: { uniqueName: " + "[" * 58 + "1" + "]" * 58 + " }) { totalCount } }"
    docs = {
        "fragment cycle": "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "list nested 5,000 deep": "{ rooms(filter: { uniqueName: " + "[" * 5000 + "1" + "]" * 5000 + " }) { id } }",
        "fan-out chain at the root": fan_out,
        "fan-out chain nested": nested_fan_out,
        "240 KB of directives": "{ __typename " + "@a" * 120_000 + " }",
        "5,000 fields (admitted)": widest,
        "15,000 tokens (admitted up to validation)": most_tokens,
        "64 levels (admitted up to validation)": deepest,
    }
    return [(name, json.dumps({"query": text}).encode()) for name, text in docs.items()]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples = {}

    def add(self, key, value):
        with self.lock:
            self.samples.setdefault(key, []).append(value)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def ordinary_client(port, stop, phase, recorder):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("POST", "/graphql", ORDINARY, headers)
        response = conn.getresponse()
        body = response.read()
        recorder.add((phase[0], "ordinary"), (time.perf_counter() - started) * 1000)
        if response.status != 200 or b'"errors"' in body:
            recorder.add((phase[0], "ordinary failures"), 1)


def health_prober(port, stop, phase, recorder):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        recorder.add((phase[0], "health"), (time.perf_counter() - started) * 1000)
        time.sleep(0.02)


def hostile_sender(port, stop, active, rate, recorder):
    docs = hostile_documents()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json", "accept": "application/graphql-response+json"}
    i, interval, next_at = 0, 1.0 / rate, time.perf_counter()
    while not stop.is_set():
        if not active.is_set():
            time.sleep(0.05)
            next_at = time.perf_counter()
            continue
        name, body = docs[i % len(docs)]
        i += 1
        started = time.perf_counter()
        try:
            conn.request("POST", "/graphql", body, headers)
            response = conn.getresponse()
            answer = response.read()
            try:
                code = json.loads(answer)["errors"][0]["extensions"]["code"]
            except (ValueError, KeyError, IndexError, TypeError):
                code = "OK"
            recorder.add(("hostile", name), (response.status, code, (time.perf_counter() - started) * 1000))
        except (OSError, http.client.HTTPException) as error:
            recorder.add(("hostile", name), ("connection error", str(error), 0.0))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=20, help="seconds per phase")
    parser.add_argument("--rate", type=float, default=50, help="hostile documents per second in the attack phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent ordinary clients")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)

    up_port, svc_port = free_port(), free_port()
    logs = tempfile.NamedTemporaryFile(prefix="hostile-", suffix=".log", delete=False)
    upstream = subprocess.Popen([BIN, "--sample-upstream", f"127.0.0.1:{up_port}"], stdout=subprocess.DEVNULL)
    service = subprocess.Popen(
        [BIN, "--listen-addr", f"127.0.0.1:{svc_port}", "--telnyx-api-base-url", f"http://127.0.0.1:{up_port}/v2"],
        env={**os.environ, "TELNYX_API_KEY": KEY, "RUST_LOG": "warn"}, stdout=logs, stderr=logs)
    recorder, stop, attack, phase = Recorder(), threading.Event(), threading.Event(), ["baseline"]
    cpu = {}
    try:
        wait_for(f"http://127.0.0.1:{svc_port}/health")
        threads = [threading.Thread(target=ordinary_client, args=(svc_port, stop, phase, recorder))
                   for _ in range(args.clients)]
        threads.append(threading.Thread(target=health_prober, args=(svc_port, stop, phase, recorder)))
        threads.append(threading.Thread(target=hostile_sender, args=(svc_port, stop, attack, args.rate, recorder)))
        for thread in threads:
            thread.start()
        time.sleep(2)  # warm-up, not recorded
        with recorder.lock:
            recorder.samples.clear()
        for name in ("baseline", "attack"):
            phase[0] = name
            if name == "attack":
                attack.set()
            before = cpu_seconds(service.pid)
            time.sleep(args.duration)
            cpu[name] = cpu_seconds(service.pid) - before
        attack.clear()
        stop.set()
        for thread in threads:
            thread.join(timeout=35)
        alive = service.poll() is None
    finally:
        service.terminate()
        upstream.terminate()
        status = service.wait(timeout=30)
        upstream.wait(timeout=10)
    log = open(logs.name).read()

    s = recorder.samples
    print(f"\n{args.clients} ordinary clients; {args.rate:g} hostile documents/s in the attack phase; "
          f"{args.duration} s per phase\n")
    print("| | baseline p50 | baseline p99 | attack p50 | attack p99 | p99 ratio |")
    print("|---|---|---|---|---|---|")
    for kind in ("ordinary", "health"):
        base, hit = s.get(("baseline", kind), []), s.get(("attack", kind), [])
        print(f"| {kind} ({len(base)} / {len(hit)} requests) | {percentile(base, 50):.2f} ms | "
              f"{percentile(base, 99):.2f} ms | {percentile(hit, 50):.2f} ms | {percentile(hit, 99):.2f} ms | "
              f"{percentile(hit, 99) / percentile(base, 99):.2f}× |")
    failures = {p: len(s.get((p, "ordinary failures"), [])) for p in ("baseline", "attack")}
    print(f"\nordinary queries failed: baseline {failures['baseline']}, attack {failures['attack']}")
    print(f"service CPU: baseline {cpu['baseline']:.1f} s, attack {cpu['attack']:.1f} s (of {args.duration} s)")
    print("\n| hostile document | sent | answered | p50 | p99 |")
    print("|---|---|---|---|---|")
    for (group, name), rows in sorted(s.items(), key=lambda item: str(item[0])):
        if group != "hostile":
            continue
        answers = sorted({f"{status} {code}" for status, code, _ in rows})
        times = [t for *_, t in rows]
        print(f"| {name} | {len(rows)} | {', '.join(answers)} | {percentile(times, 50):.2f} ms | "
              f"{percentile(times, 99):.2f} ms |")
    print(f"\npanics in the service log: {log.count('panicked')}; alive throughout: {alive}; exit status {status}")


if __name__ == "__main__":
    main()
