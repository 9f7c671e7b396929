"""`make bench`: run every benchmark, then write bench/results.md from bench/results/*.json.

Each benchmark measures this project against a baseline *in the same run* and records rows
{measure, project, baseline, ratio, target, unit}; this script only runs them and renders the
table (the README quotes it). Sizes can be lowered for a quick look: BENCH_QUICK=1 make bench.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
QUICK = os.environ.get("BENCH_QUICK") == "1"

# (script, arguments for a full run, arguments for a quick run)
BENCHMARKS = [
    ("bench_ingest.py", [], ["--quick"]),
    ("bench_cleaning.py", ["--rows", "1000000"], ["--rows", "100000"]),
    ("bench_stream.py", [], ["--quick"]),
    ("bench_scale.py", [], ["--quick"]),
    ("bench_backfill.py", [], ["--quick"]),
]


def run_benchmarks() -> list[str]:
    failed = []
    for script, full, quick in BENCHMARKS:
        path = HERE / script
        if not path.exists():
            print(f"· {script}: not present, skipped", flush=True)
            continue
        args = quick if QUICK else full
        print(f"▶ {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(path), *args], cwd=HERE.parent).returncode != 0:
            failed.append(script)
    return failed


def machine() -> str:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {java[0] if java else 'java ?'}")


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render() -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {machine()}.",
        "Each ratio compares this project with a baseline measured in the same run.",
        "",
        "| benchmark | measure | this project | baseline | ratio | target | unit |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        rows = json.loads(path.read_text())
        if not isinstance(rows, list):
            continue  # not a benchmark table (torture.json: rendered below)
        for row in rows:
            lines.append(f"| {path.stem} | {row['measure']} | {fmt(row['project'])} | {fmt(row['baseline'])} | "
                         f"{fmt(row['ratio'])} | {row['target']} | {row.get('unit', '')} |")
    lines += render_torture()
    return "\n".join(lines) + "\n"


def render_torture() -> list[str]:
    """The figures of the last `make torture` run (bench/results/torture.json), if any."""
    path = RESULTS / "torture.json"
    if not path.exists():
        return []
    t = json.loads(path.read_text())
    faults = ", ".join(f"{k} {v}" for k, v in sorted(t["faults"].items())) or "none"
    lines = [
        "",
        "## Torture (`make torture`)",
        "",
        f"Run of {t['date']}: {t['seconds'] / 60:.0f} min of new seeds, {t['schedules']} seed(s) "
        f"({t['examples_run']} schedules), {t['steps']:,} steps; faults injected: {faults}; "
        f"classes drawn on request (`OPEN=`): {', '.join(t['open_classes']) or 'none'}; "
        f"violations: {t['violations']}.",
    ]
    for failure in t["failures"]:
        lines.append(f"- seed {failure['seed']} (`{failure['replay']}`): {failure['error'].splitlines()[0][:300]}")
    return lines


def update_torture_section() -> None:
    """Replace only the torture section of results.md (`make torture`: the benchmarks did not run)."""
    path = HERE / "results.md"
    text = path.read_text() if path.exists() else render()
    head = text.split("\n## Torture (`make torture`)")[0].rstrip("\n")
    path.write_text(head + "\n" + "\n".join(render_torture()) + "\n")


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    if "--torture-only" in sys.argv:
        update_torture_section()
        return 0
    failed = [] if "--render-only" in sys.argv else run_benchmarks()
    (HERE / "results.md").write_text(render())
    print((HERE / "results.md").read_text())
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
