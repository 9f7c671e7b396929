"""Benchmark: the batch path at 10k, 100k and 1M events — does its cost grow linearly?

The batch path is what `cleaned_pin` does for a day: read raw JSON lines, frame them
(`raw_frame_from_json`), `clean_pin`, keep the newest row per key (`latest_per_key`), write
Parquet. Each size is compared with a linear extrapolation of the previous size measured in the
same run (10 × the time of a ten times smaller input): a ratio near 1 (or below: fixed costs
amortise) is linear, the target is ≤ 1.5. Writes bench/results/scale.json.

    .venv/bin/python bench/bench_scale.py [--quick]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def batch_path(spark, raw: Path, out: Path) -> int:
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import latest_per_key, raw_frame_from_json
    from pinterest_assets.cleaning.pin import clean_pin

    lines = spark.read.text(str(raw)).withColumn("_line", F.monotonically_increasing_id())
    clean, _rejects = clean_pin(raw_frame_from_json(lines, col="value", entity="pin"))
    latest_per_key(clean, "pin").write.mode("overwrite").parquet(str(out))
    return spark.read.parquet(str(out)).count()


@click.command()
@click.option("--quick", is_flag=True, help="1k / 10k / 100k instead of 10k / 100k / 1M")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=HERE / "results" / "scale.json")
def main(quick: bool, out_path: Path) -> None:
    from bench.bench_cleaning import write_raw_pins
    from pinterest_assets.resources.spark_session import build_spark_session

    sizes = [1_000, 10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    scratch = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    spark = build_spark_session(app_name="bench-scale")
    try:
        files = {}
        for n in sizes:
            files[n] = scratch / f"raw-{n}.jsonl"
            click.echo(f"generating {n:,} raw pins", err=True)
            write_raw_pins(files[n], n)
        batch_path(spark, files[sizes[0]], scratch / "warmup")  # JIT and codegen warm-up
        seconds = {}
        for n in sizes:
            start = time.perf_counter()
            rows = batch_path(spark, files[n], scratch / f"out-{n}")
            seconds[n] = time.perf_counter() - start
            click.echo(f"{n:>9,} events: {seconds[n]:6.2f} s ({rows:,} distinct pins)", err=True)
        results = []
        for small, big in zip(sizes, sizes[1:]):
            linear = seconds[small] * (big / small)
            results.append({"measure": f"batch path {big:,} events vs 10x {small:,}",
                            "project": round(seconds[big], 2), "baseline": round(linear, 2),
                            "ratio": round(seconds[big] / linear, 2), "target": "<= 1.5 (linear)", "unit": "s"})
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2) + "\n")
        for r in results:
            click.echo(f"| {r['measure']} | {r['project']} s | {r['baseline']} s | {r['ratio']} | {r['target']} |")
    finally:
        spark.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
