"""Benchmark: pin_stream rows/s into Postgres against a plain COPY of the same rows.

Starts its own Kafka + Postgres on free ports under a temporary PINTEREST_HOME, produces N dirty
pins (about 10 % of them re-posts of an earlier key, like the original emulator) to a fresh topic,
then:
  (a) project  - the pin_stream query (trigger availableNow: Kafka -> JSON -> clean_pin ->
                 latest_per_key -> COPY into a temp table -> forward-only upsert), timed from
                 query start to its end, on a warm Spark session;
  (b) baseline - the rows pin_stream stored, already in Python, COPYed (psycopg 3 write_row) into an
                 empty table with the same columns, primary key and indexes.
Both count the rows that land in Postgres. Target: project/baseline >= 0.5.

Then the latency of the continuous query (`pinterest stream`'s processing-time trigger, 1 s):
pins produced at --rate events/s for --seconds; a pin's latency is the commit time of the
micro-batch that upserted it minus its Kafka timestamp (the producer's send time), after a
warm-up of 200 pins (the first micro-batches pay for code generation). Target:
p99 <= 5 s. (Measured from the Kafka produce, not from the HTTP POST: the API adds its own
produce round trip, a few ms, measured by bench_ingest.) Writes bench/results/stream.json.

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


def measure_latency(spark, postgres, bootstrap: str, home: Path, rate: int, seconds: float) -> dict:
    """Run the continuous query while producing `rate` pins/s; per-pin latency percentiles (s)."""
    import threading

    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from bench.bench_cleaning import synthetic_pin
    from pinterest_assets.assets.streamed import PinStreamConfig, start_pin_stream

    topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)], timeout_ms=30000)
    admin.close()
    commits: list[float] = []  # wall time right after each micro-batch's Postgres commit
    lock = threading.Lock()

    def on_batch(report):
        with lock:
            commits.append(time.time())

    config = PinStreamConfig(topic=topic, table="bench_latency", checkpoint_dir=str(home / "cp-latency"),
                             starting_offsets="earliest")
    query, _ = start_pin_stream(spark, config, postgres, trigger={"processingTime": "1 second"},
                                on_batch=on_batch)
    rng = random.Random(3)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    # warm-up: the query's first micro-batches pay for code generation and Kafka consumers
    warm = 200
    for i in range(warm):
        producer.send(topic, json.dumps(synthetic_pin(rng, -i - 1), ensure_ascii=False).encode("utf-8"))
    producer.flush()
    with postgres.connect(autocommit=True) as conn:
        deadline = time.time() + 120
        while time.time() < deadline and conn.execute(
                "SELECT (SELECT count(*) FROM pinterest.bench_latency) "
                "+ (SELECT count(*) FROM pinterest.bench_latency_rejects)").fetchone()[0] < warm * 0.97:
            time.sleep(0.5)
    time.sleep(2)
    measure_from = time.time()
    total = int(rate * seconds)
    started = time.perf_counter()
    for i in range(total):  # paced in 10 ms slices
        producer.send(topic, json.dumps(synthetic_pin(rng, i), ensure_ascii=False).encode("utf-8"))
        if i % max(1, rate // 100) == 0:
            ahead = i / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush()
    producer.close()
    deadline = time.time() + 120
    with postgres.connect(autocommit=True) as conn:
        expected = None
        while time.time() < deadline:
            landed = conn.execute("SELECT count(*) FROM pinterest.bench_latency").fetchone()[0]
            rejected = conn.execute("SELECT count(*) FROM pinterest.bench_latency_rejects").fetchone()[0]
            if landed + rejected >= (total + warm) * 0.97 and expected == landed + rejected:
                break  # stable: everything the query will take has landed
            expected = landed + rejected
            time.sleep(2)
        rows = conn.execute("SELECT extract(epoch FROM _loaded_at), extract(epoch FROM _kafka_timestamp) "
                            "FROM pinterest.bench_latency WHERE _kafka_timestamp >= to_timestamp(%s)",
                            (measure_from,)).fetchall()
    query.stop()
    with lock:
        done = sorted(commits)
    latencies = []
    for loaded_at, sent_at in rows:
        # _loaded_at is the batch transaction's start; its commit is the first one after it
        commit = next((c for c in done if c >= float(loaded_at)), None)
        if commit is not None:
            latencies.append(commit - float(sent_at))
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {"events": total, "rows": len(latencies), "p50": pct(0.50), "p99": pct(0.99), "max": latencies[-1],
            "batches": len(done)}


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
@click.option("--quick", is_flag=True, help="a quick look: 20,000 pins, 10 s of latency")
@click.option("--rate", type=int, default=1000, show_default=True, help="events/s of the latency run")
@click.option("--seconds", type=float, default=30, show_default=True, help="length of the latency run")
@click.option("--out", type=click.Path(path_type=Path), default=ROOT / "bench" / "results" / "stream.json",
              show_default=True)
def main(rows: int, quick: bool, rate: int, seconds: float, out: Path):
    rows, seconds = (20_000, 10.0) if quick else (rows, seconds)
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
        latency = measure_latency(spark, postgres, settings.kafka_bootstrap_servers, home, rate, seconds)
        click.echo(f"latency under the continuous query: {latency}")
        result.append({
            "measure": f"Kafka produce -> row in pin_stream, p99 at {rate} events/s for {seconds:g} s "
                       f"(p50 {latency['p50']:.2f} s, max {latency['max']:.2f} s, {latency['rows']} rows)",
            "project": round(latency["p99"], 2),
            "baseline": 5.0,
            "ratio": round(latency["p99"] / 5.0, 3),
            "target": "p99 <= 5 s",
            "unit": "s",
        })
        # the machine is shared: its load says how much of the 2 cores this run really had
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        for row in result:
            row["machine"] = f"{os.cpu_count()} cores, load average {load} at the end of the run"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(json.dumps(result, indent=2))
        spark.stop()
    finally:
        manager.down(settings, echo=click.echo)


if __name__ == "__main__":
    main()
