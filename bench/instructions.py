#!/usr/bin/env python3
"""The facade's instructions per query, held to a budget: run by .ci/run.

    python3 bench/instructions.py            # measure, compare with bench/instructions.json
    python3 bench/instructions.py --update   # measure, and record the figures as the budget

Each scenario of `bench/run.py`, (a) to (f), is executed in-process against the sample
upstream's recorded answers (`benches/execute.rs --instructions`), under valgrind's callgrind,
which counts only what runs inside `measured`: N executions of a document already cached and
upstream answers already recorded, so what is counted is the facade's own work per query.
Instruction counts repeat to within a fraction of a percent on a noisy 2-core machine, where
times do not. A scenario more than TOLERANCE over its budget fails; one well under it is
reported, so that a gain can be locked in with --update (on purpose, in its own commit).
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUDGET = ROOT / "bench" / "instructions.json"
SCENARIOS = {
    "a": "20 participants, all fields",
    "b": "250 participants",
    "c": "first: 1000 (fan-out)",
    "d": "totalCount only",
    "e": "filtered (context)",
    "f": "unaligned after window",
}
EXECUTIONS = 20
TOLERANCE = 0.10


def bench_binary():
    """Builds benches/execute.rs and returns its executable."""
    build = subprocess.run(
        ["cargo", "bench", "--locked", "--bench", "execute", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("target", {}).get("name") == "execute" \
                and message.get("executable"):
            return message["executable"]
    sys.exit("bench/instructions.py: cargo built no `execute` bench executable")


def instructions(binary, scenario):
    """Instructions per execution of `scenario`, as callgrind counts them inside `measured`."""
    with tempfile.TemporaryDirectory() as work:
        out = pathlib.Path(work) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=*::measured",
             f"--callgrind-out-file={out}", binary, "--instructions", scenario, str(EXECUTIONS)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for line in out.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
                if total == 0:
                    sys.exit(f"bench/instructions.py: callgrind counted nothing in `measured` for ({scenario})")
                return total // EXECUTIONS
    sys.exit(f"bench/instructions.py: no totals in callgrind's output for ({scenario})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--update", action="store_true", help="record the measured figures as the budget")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("bench/instructions.py: valgrind not found (Debian: apt-get install valgrind)")

    binary = bench_binary()
    measured = {tag: instructions(binary, tag) for tag in SCENARIOS}
    budget = json.loads(BUDGET.read_text())["instructions_per_query"] if BUDGET.exists() else {}

    print(f"Instructions per query (callgrind, {EXECUTIONS} executions of a cached document each); "
          f"the budget allows +{TOLERANCE:.0%}.\n")
    print("| scenario | instructions | budget | change |")
    print("|---|---|---|---|")
    over = []
    for tag, title in SCENARIOS.items():
        figure, allowed = measured[tag], budget.get(tag)
        change = f"{figure / allowed - 1:+.1%}" if allowed else "no budget"
        print(f"| ({tag}) {title} | {figure:,} | {allowed:,} | {change} |" if allowed
              else f"| ({tag}) {title} | {figure:,} | – | {change} |")
        if allowed is None or figure > allowed * (1 + TOLERANCE):
            over.append(tag)
        elif figure < allowed * (1 - TOLERANCE):
            print(f"  ({tag}) is {1 - figure / allowed:.0%} under its budget: lock the gain in with --update")

    if args.update:
        BUDGET.write_text(json.dumps({
            "about": "bench/instructions.py's budget: instructions per query, per scenario of bench/run.py. "
                     "Update only on purpose (--update), in a commit that says why.",
            "instructions_per_query": measured,
        }, indent=2) + "\n")
        print(f"\nRecorded as the budget in {BUDGET.relative_to(ROOT)}.")
        return
    if over:
        sys.exit(f"\nOver budget (more than +{TOLERANCE:.0%}) or without one: "
                 + ", ".join(f"({tag})" for tag in over)
                 + ". Find what grew (callgrind_annotate on a run of benches/execute.rs --instructions), "
                   "or, if the cost is meant, record it with --update.")


if __name__ == "__main__":
    main()
