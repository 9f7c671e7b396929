"""Soak: `pinterest stream` for 10 minutes at 1,000 events/s; memory must stay flat, lag bounded.

Starts its own Kafka + Postgres on free ports under a temporary PINTEREST_HOME, starts the real
`pinterest stream` CLI (a separate process, defaults as a user gets them) on a fresh topic and
produces fresh pins at --rate events/s for --minutes. Every 10 s it records:
  - RSS of the CLI's Python process and of its Spark driver JVM (psutil); `pinterest stream`
    takes its whole heap at start (--fixed-heap, its default), so JVM RSS growth is native memory
    (threads, metaspace, code cache, direct buffers),
  - the JVM's old generation in use (jstat OU): its floor is the live heap a leak would grow,
  - the consumer lag: Kafka end offsets minus the offsets the checkpoint committed (records, and
    seconds of input at the produce rate), and the lag of the newest progress line.
Targets: RSS after the first minute grows < 10 % by the end (JVM and Python), and so does the
old generation's floor; the lag never
exceeds 2 s of input; micro-batches that overran the trigger are counted. Writes
bench/results/soak.json (rows for results.md) and bench/results/soak-timeline.csv.

Too long for the default `make bench`: `make soak` runs it.

    .venv/bin/python bench/bench_soak.py --minutes 10 --rate 1000
"""

import csv
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_stream import PacedProducer, StreamCli, create_topic, free_port, private_stack_env  # noqa: E402


def rss_mb(proc) -> tuple[float | None, float | None]:
    """(Python process RSS, Spark driver JVM RSS) in MB; None for a process that is gone."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        python = parent.memory_info().rss / 2**20
        jvm = [c for c in parent.children(recursive=True) if "java" in c.name().lower()]
        return python, (sum(c.memory_info().rss for c in jvm) / 2**20 if jvm else None)
    except psutil.NoSuchProcess:
        return None, None


def jvm_pid(proc) -> int | None:
    import psutil

    try:
        jvm = [c for c in psutil.Process(proc.pid).children(recursive=True) if "java" in c.name().lower()]
    except psutil.NoSuchProcess:
        return None
    return jvm[0].pid if jvm else None


def old_gen_mb(pid: int | None) -> float | None:
    """Old generation in use (jstat -gc, OU): what survived young collections. Its floor (the
    minimum over a window, right after a mixed/full collection) is the live heap a leak would grow."""
    import subprocess

    if pid is None:
        return None
    try:
        out = subprocess.run(["jstat", "-gc", str(pid)], capture_output=True, text=True, timeout=20).stdout
        header, values = out.split("\n")[:2]
        return float(dict(zip(header.split(), values.split()))["OU"]) / 1024
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


def floor_growth(samples: list[dict], key: str, warmup_s: float, window_s: float = 60) -> tuple[float, float]:
    """(floor over the first minute after warm-up, floor over the last minute) of samples[key]."""
    first = [s[key] for s in samples if warmup_s <= s["t"] < warmup_s + window_s and s[key] is not None]
    last = [s[key] for s in samples if s["t"] >= samples[-1]["t"] - window_s and s[key] is not None]
    return (min(first), min(last)) if first and last else (float("nan"), float("nan"))


def growth(series: list[float]) -> float:
    return (series[-1] - series[0]) / series[0] * 100 if series and series[0] else float("nan")


@click.command()
@click.option("--minutes", type=float, default=10, show_default=True)
@click.option("--rate", type=int, default=1000, show_default=True, help="events/s")
@click.option("--interval", type=float, default=10, show_default=True, help="seconds between samples")
@click.option("--warmup-minutes", type=float, default=1, show_default=True,
              help="RSS growth is measured from the end of this first period")
@click.option("--out", type=click.Path(path_type=Path), default=ROOT / "bench" / "results" / "soak.json",
              show_default=True)
def main(minutes, rate, interval, warmup_minutes, out):
    home = private_stack_env("bench-soak-")

    from pinterest_assets.stream.checkpoint import committed_offsets
    from pinterest_assets.stream.source import KafkaLag
    from pinterest_assets.settings import get_settings
    from pinterest_platform.stack import manager

    settings = get_settings()
    click.echo(f"stack under {home}")
    samples = []
    try:
        manager.up(settings, echo=click.echo)
        bootstrap = settings.kafka_bootstrap_servers
        topic = f"bench.soak.{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        checkpoint = home / "cp-soak"
        stream = StreamCli(["--topic", topic, "--table", "bench_soak", "--checkpoint-dir", str(checkpoint)],
                           home / "stream-soak.log")
        lag = KafkaLag(bootstrap, topic)
        try:
            stream.wait_started()
            producer = PacedProducer(bootstrap, topic, rate, minutes * 60)
            started = time.time()
            producer.start()
            while producer.is_alive():
                time.sleep(max(0.0, interval - (time.time() - started) % interval))
                python, jvm = rss_mb(stream.proc)
                old_gen = old_gen_mb(jvm_pid(stream.proc))
                try:
                    behind = lag.behind(committed_offsets(checkpoint))
                except Exception as exc:  # a busy broker: record the gap, keep soaking
                    click.echo(f"lag probe failed: {exc}")
                    behind = samples[-1]["lag_records"] if samples else 0
                line_lag = stream.lag[-1][1] if stream.lag else None
                samples.append({"t": round(time.time() - started, 1), "python_rss_mb": python,
                                "jvm_rss_mb": jvm, "jvm_old_gen_mb": old_gen, "lag_records": behind, "lag_s": round(behind / rate, 2),
                                "progress_line_lag": line_lag, "batches": len(stream.batches)})
                click.echo(json.dumps(samples[-1]))
                if stream.proc.poll() is not None:
                    raise RuntimeError("`pinterest stream` died:\n" + "\n".join(l for _, l in stream.lines[-30:]))
        finally:
            code = stream.stop()
            lag.close()
        click.echo(f"`pinterest stream` exit code {code}")
        trigger = 0.5  # `pinterest stream`'s default trigger
        durations = [float(m.group(1)) for _, l in stream.lines for m in [re.search(r"rejects in ([0-9.]+)s", l)] if m]
        overruns = sum(1 for d in durations if d > trigger)
        after = [s for s in samples if s["t"] >= warmup_minutes * 60 and s["jvm_rss_mb"]]
        jvm = [s["jvm_rss_mb"] for s in after]
        py = [s["python_rss_mb"] for s in after]
        max_lag = max(s["lag_s"] for s in samples)
        old_first, old_last = floor_growth(samples, "jvm_old_gen_mb", warmup_minutes * 60)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        machine = f"{os.cpu_count()} cores, load average {load} at the end of the run"
        span = f"{warmup_minutes:g}-{minutes:g} min of `pinterest stream` at {rate} ev/s"
        rows = [{
            "measure": f"soak: Spark driver JVM RSS growth (`pinterest stream` defaults: 2g heap, fixed and "
                       f"pre-touched at start), {span} ({jvm[0]:.0f} -> {jvm[-1]:.0f} MB, "
                       f"peak {max(jvm):.0f} MB)",
            "project": round(growth(jvm), 1), "baseline": 10.0, "ratio": round(growth(jvm) / 10.0, 3),
            "target": "< 10 % growth", "unit": "%", "machine": machine,
        }, {
            "measure": f"soak: Python driver RSS growth, {span} ({py[0]:.0f} -> {py[-1]:.0f} MB)",
            "project": round(growth(py), 1), "baseline": 10.0, "ratio": round(growth(py) / 10.0, 3),
            "target": "< 10 % growth", "unit": "%", "machine": machine,
        }, {
            "measure": f"soak: live JVM heap growth (floor of the old generation in use, jstat OU, over the first "
                       f"minute after warm-up vs the last minute: {old_first:.0f} -> {old_last:.0f} MB), {span}",
            "project": round(growth([old_first, old_last]), 1), "baseline": 10.0,
            "ratio": round(growth([old_first, old_last]) / 10.0, 3),
            "target": "< 10 % growth", "unit": "%", "machine": machine,
        }, {
            "measure": f"soak: max consumer lag (end offset - committed offset) in seconds of input, "
                       f"{minutes:g} min at {rate} ev/s ({len(durations)} batches, {overruns} took longer "
                       f"than the {trigger:g} s trigger, median {sorted(durations)[len(durations) // 2]:.2f} s)",
            "project": max_lag, "baseline": 2.0, "ratio": round(max_lag / 2.0, 3),
            "target": "<= 2 s", "unit": "s", "machine": machine,
        }]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")
        with open(out.with_name("soak-timeline.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(samples[0]))
            writer.writeheader()
            writer.writerows(samples)
        click.echo(json.dumps(rows, indent=2))
    finally:
        manager.down(settings, echo=click.echo)


if __name__ == "__main__":
    main()
