"""Benchmark: pin_stream rows/s into Postgres against a plain COPY of the same rows.

Starts its own Kafka + Postgres on free ports under a temporary PINTEREST_HOME, produces N dirty
pins (about 10 % of them re-posts of an earlier key, like the original emulator) to a fresh topic,
then:
  (a) project  - the pin_stream query (trigger availableNow: Kafka -> JSON -> clean_pin ->
                 latest_per_key -> COPY into a temp table -> forward-only upsert), timed from
                 query start to its end, on a warm Spark session;
  (b) baseline - the rows pin_stream stored, already in Python, COPYed (psycopg 3 write_row) into an
                 empty table with the same columns, primary key and indexes.
Both count the rows that land in Postgres. Target: project/baseline >= 0.5. Writes
bench/results/stream.json.

    .venv/bin/python bench/bench_stream.py --rows 100000
"""

import json
import os
import random
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def produce_pins(bootstrap: str, topic: str, rows: int, seed: int = 7) -> None:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from bench.bench_cleaning import synthetic_pin

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)], timeout_ms=30000)
    admin.close()
    rng = random.Random(seed)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024,
                             compression_type=None)
    earlier: list[dict] = []
    for i in range(rows):
        if earlier and rng.random() < 0.1:
            record = dict(rng.choice(earlier), title=f"updated {i}")
        else:
            record = synthetic_pin(rng, i)
            if len(earlier) < 5000:
                earlier.append(record)
        producer.send(topic, json.dumps(record, ensure_ascii=False).encode("utf-8"))
    producer.flush()
    producer.close()


@click.command()
@click.option("--rows", type=int, default=100_000, show_default=True, help="pins produced to Kafka")
@click.option("--out", type=click.Path(path_type=Path), default=ROOT / "bench" / "results" / "stream.json",
              show_default=True)
def main(rows: int, out: Path):
    home = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    os.environ.update({
        "PINTEREST_HOME": str(home),
        "PINTEREST_JARS_DIR": os.environ.get("PINTEREST_JARS_DIR", str(ROOT / ".local" / "jars")),
        "PINTEREST_KAFKA_PORT": str(free_port()),
        "PINTEREST_KAFKA_CONTROLLER_PORT": str(free_port()),
        "PINTEREST_PG_PORT": str(free_port()),
    })
    for name in ("PINTEREST_KAFKA_BOOTSTRAP", "PINTEREST_PG_DSN", "PINTEREST_LAKE_URI", "PINTEREST_S3_ENDPOINT"):
        os.environ.pop(name, None)

    from psycopg import sql

    from pinterest_assets.assets.streamed import PinStreamConfig, start_pin_stream
    from pinterest_assets.io_managers.postgres import copy_into
    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_assets.resources.spark import build_spark_session
    from pinterest_assets.settings import get_settings
    from pinterest_assets.stack import manager

    settings = get_settings()
    click.echo(f"stack under {home}")
    try:
        manager.up(settings, echo=click.echo)  # inside try: a half-started stack is stopped too
        postgres = PostgresResource(dsn=settings.postgres_dsn)
        spark = build_spark_session(app_name="bench-stream")

        # warm-up: JVM, Kafka connector and code generation on a small topic
        warm = f"bench.warm.{uuid.uuid4().hex[:8]}"
        produce_pins(settings.kafka_bootstrap_servers, warm, 2000, seed=1)
        q, _ = start_pin_stream(spark, PinStreamConfig(topic=warm, table="bench_warm",
                                                       checkpoint_dir=str(home / "cp-warm")), postgres,
                                trigger={"availableNow": True})
        q.awaitTermination()

        topic = f"bench.pin.{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        produce_pins(settings.kafka_bootstrap_servers, topic, rows)
        click.echo(f"produced {rows} pins in {time.perf_counter() - started:.1f}s")

        config = PinStreamConfig(topic=topic, table="bench_stream", checkpoint_dir=str(home / "cp"),
                                 max_offsets_per_trigger=None)
        started = time.perf_counter()
        query, sink = start_pin_stream(spark, config, postgres, trigger={"availableNow": True})
        query.awaitTermination()
        project_s = time.perf_counter() - started
        with postgres.connect() as conn:
            landed = conn.execute("SELECT count(*) FROM pinterest.bench_stream").fetchone()[0]
        click.echo(f"pin_stream: {rows} records -> {landed} rows in {project_s:.2f}s "
                   f"({sink.batches} batches, {sink.rejects} rejects)")

        # baseline: the same stored rows, already in Python, plain COPY into an empty twin table
        with postgres.connect() as conn, conn.cursor() as cur:
            columns = [r[0] for r in cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema='pinterest' "
                "AND table_name='bench_stream' AND column_name <> '_loaded_at' ORDER BY ordinal_position")]
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            data = cur.execute(sql.SQL("SELECT {} FROM pinterest.bench_stream").format(cols)).fetchall()
            cur.execute("CREATE TABLE pinterest.bench_copy (LIKE pinterest.bench_stream INCLUDING ALL)")
        started = time.perf_counter()
        with postgres.connect() as conn, conn.cursor() as cur:
            copied = copy_into(cur, ("pinterest", "bench_copy"), columns, data)
        baseline_s = time.perf_counter() - started
        click.echo(f"plain COPY: {copied} rows in {baseline_s:.2f}s")

        project_rate, baseline_rate = landed / project_s, copied / baseline_s
        result = [{
            "measure": f"pin_stream rows/s into Postgres ({rows} Kafka records, {landed} distinct pins)",
            "project": round(project_rate, 1),
            "baseline": round(baseline_rate, 1),
            "ratio": round(project_rate / baseline_rate, 3),
            "target": ">= 0.5",
            "unit": "rows/s",
        }]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(json.dumps(result, indent=2))
        spark.stop()
    finally:
        manager.down(settings, echo=click.echo)


if __name__ == "__main__":
    main()
