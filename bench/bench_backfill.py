"""A 30-day backfill of raw_pin -> cleaned_pin -> pin_table as ONE run (BackfillPolicy.multi_run:
the partition range in one run, one Spark job per asset, one Postgres transaction) against 30
single-day runs, on the local stack (`pinterest stack up`), pins spread over 30 days in a private
topic. Both run in this process with one SparkSession, so the single-day side does NOT pay a
Spark start per run; a fresh session's start-up is measured once and reported beside it (on a
cluster each run starts its own). Writes bench/results/backfill.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent


def produce_days(settings, topic: str, days: list[str], per_day: int) -> None:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from pinterest_ingest.datagen import generate_pins

    options = {"bootstrap_servers": settings.kafka_bootstrap_servers, **settings.kafka_security.python_options()}
    admin = KafkaAdminClient(**options)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(**options, acks="all", linger_ms=20)
    pins = generate_pins(per_day * len(days), seed=30)
    for i, day in enumerate(days):
        stamp = int(datetime.fromisoformat(day).replace(hour=12, tzinfo=timezone.utc).timestamp() * 1000)
        for pin in pins[i * per_day:(i + 1) * per_day]:
            producer.send(topic, key=pin["unique_id"].encode(), value=json.dumps(pin).encode(), timestamp_ms=stamp)
    producer.flush()
    producer.close()


def spark_start_seconds() -> float:
    code = ("import time; t=time.monotonic(); from pinterest_assets.resources.spark_session import build_spark_session; "
            "s=build_spark_session(app_name='bench-start'); s.range(1).count(); print(time.monotonic()-t); s.stop()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--days", default=30, show_default=True)
@click.option("--per-day", default=200, show_default=True, help="pins posted per day")
@click.option("--quick", is_flag=True, help="10 days, 50 pins a day")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=HERE / "results" / "backfill.json")
def main(days: int, per_day: int, quick: bool, out_path: Path) -> None:
    from pinterest_assets.settings import get_settings
    from pinterest_platform.stack import manager

    if quick:
        days, per_day = 10, 50
    settings = get_settings()
    was_running = any(v["running"] for v in manager.status(settings)["services"].values())
    manager.up(settings)
    try:
        rows = run(settings, days, per_day)
    finally:
        if not was_running:
            manager.down(settings)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(rows, indent=2))
    for row in rows:
        print(row)


def run(settings, days: int, per_day: int) -> list[dict]:
    import dagster as dg

    from pinterest_assets.assets.cleaned import build_cleaned_asset
    from pinterest_assets.assets.raw import build_raw_asset
    from pinterest_assets.assets.serving import build_table_asset
    from pinterest_assets.io_managers.lake import LakeTableIOManager
    from pinterest_assets.io_managers.postgres import PostgresIOManager
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_assets.resources.spark_resource import SparkResource

    first = date(2025, 3, 1)
    day_keys = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    topic = f"bench.backfill.{uuid.uuid4().hex[:8]}"
    produce_days(settings, topic, day_keys, per_day)
    kafka = KafkaResource.from_settings(settings).model_copy(update={"topics": {"pin": topic}})
    postgres = PostgresResource.from_settings(settings)
    assets = [build_raw_asset("pin"), build_cleaned_asset("pin"), build_table_asset("pin")]
    scratch = Path(tempfile.mkdtemp(prefix="bench-backfill-"))

    def resources(name: str) -> dict:
        lake = LakeResource(uri=(scratch / name).as_uri())
        spark = SparkResource()
        return {"kafka": kafka, "lake": lake, "pyspark": spark,
                "lake_io_manager": LakeTableIOManager(lake=lake, pyspark=spark),
                "postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=spark,
                                                         schema_name=f"bench_{name}_{uuid.uuid4().hex[:6]}")}

    # warm: the first run of a process pays Spark's start and JIT; not part of either side
    assert dg.materialize(assets, resources=resources("warm"), partition_key=day_keys[0]).success
    began = time.monotonic()
    assert dg.materialize(assets, resources=resources("range"), tags={
        "dagster/asset_partition_range_start": day_keys[0],
        "dagster/asset_partition_range_end": day_keys[-1]}).success
    one_run = time.monotonic() - began
    daily = resources("daily")
    began = time.monotonic()
    for day in day_keys:
        assert dg.materialize(assets, resources=daily, partition_key=day).success
    per_day_runs = time.monotonic() - began
    start = spark_start_seconds()
    rows = [
        {"measure": f"{days}-day backfill, one run (s)", "project": round(one_run, 1),
         "baseline": round(per_day_runs, 1), "ratio": round(per_day_runs / one_run, 2),
         "target": ">= 1 (one run is not slower)", "unit": f"baseline: {days} single-day runs, shared SparkSession"},
        {"measure": f"{days} single-day runs incl. a Spark start each (s, estimate)", "project": round(one_run + start, 1),
         "baseline": round(per_day_runs + days * start, 1), "ratio": round((per_day_runs + days * start) / (one_run + start), 2),
         "target": "-", "unit": f"Spark session start measured once: {start:.1f} s"},
    ]
    return rows


if __name__ == "__main__":
    main()
