"""`pinterest stream`: the pin_stream query, continuously, with a processing-time trigger.

Same source, cleaning, sink and checkpoint as the ``pin_stream`` asset (:mod:`pinterest_assets.stream`),
so the two take turns on one checkpoint. Ctrl-C or SIGTERM lets the running micro-batch finish (up
to ``--grace-seconds``) and exits 0. The progress line: docs/decisions.md, "Module notes out of the docstrings".
"""

import os
import re
import signal
import sys
import threading
import time

import click
import dagster as dg

from pinterest_platform.stream_report import InstanceReporter


@click.command(name="stream")
@click.option("--trigger-seconds", type=float, default=0.5, show_default=True,
              help="processing-time trigger: start a micro-batch every N seconds")
@click.option("--topic", default=None, help="Kafka topic (default pinterest.pin)")
@click.option("--table", default="pin_stream", show_default=True, help="target table in schema pinterest")
@click.option("--checkpoint-dir", default=None, help="default <PINTEREST_HOME>/checkpoints/<table>")
@click.option("--max-offsets-per-trigger", type=int, default=100_000, show_default=True,
              help="at most this many Kafka records per micro-batch (0: no limit)")
@click.option("--starting-offsets", default="earliest", show_default=True,
              help="where a query without a checkpoint starts")
@click.option("--allow-data-loss", is_flag=True, default=False,
              help="skip records Kafka deleted before they were read (default: fail and say so)")
@click.option("--reset-for-new-topic", is_flag=True, default=False,
              help="the topic was recreated (new topic id): empty the table and its rejects, move the "
                   "checkpoint aside and rebuild from the new topic (default: refuse and say so)")
@click.option("--shuffle-partitions", type=int, default=2, show_default=True,
              help="Spark shuffle partitions of a micro-batch (small batches: few partitions)")
@click.option("--warm-up-records", type=click.IntRange(min=0), default=20_000, show_default=True,
              help="before subscribing, run the cleaning and COPY formatting on this many generated pins "
                   "(nothing is written) so the first micro-batches don't run on a cold JIT; 0: skip")
@click.option("--grace-seconds", type=float, default=30.0, show_default=True,
              help="on Ctrl-C/SIGTERM, wait this long for the running micro-batch to finish")
@click.option("--driver-memory", default=lambda: os.environ.get("PINTEREST_SPARK_DRIVER_MEMORY", "2g"),
              show_default="$PINTEREST_SPARK_DRIVER_MEMORY or 2g",
              help="Spark driver heap, e.g. 2g or 1536m (micro-batches are small)")
@click.option("--report-seconds", type=float, default=15.0, show_default=True,
              help="report pin_stream (rows upserted, lag, last offsets) to the Dagster instance of "
                   "DAGSTER_HOME every N seconds, so its freshness shows in the UI; 0: off")
@click.option("--fixed-heap/--growing-heap", default=True, show_default=True,
              help="a long-running service: take the whole heap at start (-Xms = heap, pre-touched), so "
                   "memory is flat from the first batch and never grows by JVM heap resizing")
def stream(trigger_seconds, topic, table, checkpoint_dir, max_offsets_per_trigger, starting_offsets,
           allow_data_loss, reset_for_new_topic, shuffle_partitions, warm_up_records, grace_seconds, driver_memory,
           report_seconds, fixed_heap):
    """Run the pin_stream query continuously (Kafka -> clean -> Postgres upsert)."""
    from pinterest_assets.stream.config import PinStreamConfig
    from pinterest_assets.stream.postgres_sink import PinStreamSink
    from pinterest_assets.stream.query import start_pin_stream
    from pinterest_assets.stream.source import KafkaLag
    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_assets.resources.spark_session import find_java
    from pinterest_assets import entities as registry

    from pinterest_assets.settings import JVM_SIZE, get_settings

    get_settings()  # a bad PINTEREST_* / JAVA_HOME: one line naming it, exit 2
    if trigger_seconds <= 0:
        raise click.BadParameter("must be > 0", param_hint="--trigger-seconds")
    if shuffle_partitions < 1:
        raise click.BadParameter("must be >= 1", param_hint="--shuffle-partitions")
    if not re.fullmatch(JVM_SIZE, driver_memory):
        raise click.BadParameter(f"{driver_memory!r} is not a size like 2g or 1536m", param_hint="--driver-memory")
    os.environ["PINTEREST_SPARK_DRIVER_MEMORY"] = driver_memory
    if fixed_heap:
        os.environ["PINTEREST_SPARK_DRIVER_JAVA_OPTIONS"] = f"-Xms{driver_memory} -XX:+AlwaysPreTouch"
    config = PinStreamConfig(
        topic=topic or registry.entity("pin").topic,
        table=table,
        checkpoint_dir=checkpoint_dir,
        max_offsets_per_trigger=max_offsets_per_trigger or None,
        starting_offsets=starting_offsets,
        fail_on_data_loss=not allow_data_loss,
        reset_for_new_topic=reset_for_new_topic,
    )
    stop_requested = threading.Event()

    def request_stop(signum, frame):
        if stop_requested.is_set():  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop_requested.set()
        click.echo(f"{signal.Signals(signum).name}: stopping after the current micro-batch", err=True)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()

    find_java()  # no Java: say so (exit 2) before anything else
    postgres = PostgresResource.from_settings()
    owner, spark = _owner_and_spark(postgres, config, shuffle_partitions)
    if warm_up_records:
        if _warm_up(spark, warm_up_records, stop_requested):  # Ctrl-C/SIGTERM: nothing was started
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            spark.stop()
            owner.close()
            click.echo("stopped during the warm-up: the query never started, nothing was read or written")
            return
    lag_probe = KafkaLag(config.resolved_bootstrap(), config.topic)
    reporter = InstanceReporter.from_environment(report_seconds, config, lag_probe, click.echo)
    on_batch = reporter.wrap(progress_line(config, lag_probe, started))
    try:
        query, sink = start_pin_stream(
            spark, config, PinStreamSink(postgres, table=config.table, on_batch=on_batch),
            postgres=postgres,
            trigger={"processingTime": f"{trigger_seconds} seconds"}, log=EchoLog(), owner=owner,
        )
    except dg.Failure as exc:  # e.g. Postgres unreachable: say so, no traceback
        lag_probe.close()
        spark.stop()
        raise click.ClickException(exc.description or str(exc)) from exc
    click.echo(
        f"streaming {config.topic} -> pinterest.{config.table} every {trigger_seconds:g}s "
        f"(checkpoint {config.resolved_checkpoint()}); Ctrl-C to stop"
    )
    sys.stdout.flush()
    failure = _run_until_stopped(query, config, stop_requested, grace_seconds, previous, reporter.tick)
    sink.close()
    lag_probe.close()
    click.echo(f"stopped: {sink.batches} batches, {sink.upserted} rows upserted, {sink.rejects} rejects")
    spark.stop()
    if failure:
        raise click.ClickException(failure)



class EchoLog:
    def warning(self, msg):
        click.echo(f"warning: {msg}", err=True)


def _owner_and_spark(postgres, config, shuffle_partitions: int):
    """Take the checkpoint (before Spark starts: a second stream on it stops here, in one line),
    then start Spark; a ClickException naming what is wrong."""
    from pinterest_assets.resources.spark_session import MissingJarsError, build_spark_session
    from pinterest_assets.stream.checkpoint import CheckpointOwner

    try:
        owner = CheckpointOwner(postgres, config.resolved_checkpoint(), f"`pinterest stream` pid {os.getpid()}")
    except dg.Failure as exc:
        raise click.ClickException(exc.description or str(exc)) from None
    try:
        spark = build_spark_session(app_name="pinterest-stream")
    except MissingJarsError as exc:
        owner.close()
        raise click.ClickException(str(exc)) from exc
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return owner, spark

def progress_line(config, lag_probe, started: float):
    """The on_batch callback printing one line per micro-batch, with the lag (docs/decisions.md)."""
    from pinterest_assets.stream.checkpoint import batch_offsets

    def lag_text(r) -> str:
        parts = []
        try:
            parts.append(f"lag {lag_probe.behind(batch_offsets(config.resolved_checkpoint(), r.batch_id))} records")
        except Exception as exc:  # the probe never stops the stream
            parts.append(f"lag unknown ({type(exc).__name__})")
        if r.newest_event is not None:
            parts.append(f"newest row {max(0.0, time.time() - r.newest_event):.1f}s old")
        return ", ".join(parts)

    def report(r):
        click.echo(
            f"[{time.monotonic() - started:7.1f}s] batch {r.batch_id}: {r.staged} staged, "
            f"{r.upserted} upserted, {r.rejects} rejects in {r.seconds:.2f}s "
            f"(spark {r.spark_seconds:.2f}s, postgres {r.postgres_seconds:.2f}s); {lag_text(r)}",
        )
        sys.stdout.flush()

    return report


def _warm_up(spark, records: int, stop_requested: threading.Event) -> bool:
    """Warm the JVM on `records` generated pins; True when a stop was asked for meanwhile."""
    import json

    from pinterest_assets.stream.warmup import warm_up
    from pinterest_ingest.datagen import generate_pins

    click.echo(f"warming up on {records:,} generated pins (nothing is written) ...")
    sys.stdout.flush()
    began = time.monotonic()
    try:
        warm_up(spark, [json.dumps(p).encode() for p in generate_pins(records, seed=20_000)])
    except KeyboardInterrupt:  # a second Ctrl-C: stop now (Spark cancelled the warm-up's job)
        stop_requested.set()
    if stop_requested.is_set():
        return True
    click.echo(f"warmed up in {time.monotonic() - began:.1f}s")
    return False


def _run_until_stopped(query, config, stop_requested: threading.Event, grace_seconds: float,
                       previous: dict, tick=lambda: None) -> str | None:
    """Wait for the query to fail or a stop request (then let the running batch finish, up to the
    grace); stop it and restore the signal handlers. The failure, explained, or None."""
    from pinterest_assets.stream.query import explain_stream_failure

    failure = None
    try:
        while query.isActive and not stop_requested.is_set():
            query.awaitTermination(0.5)
            tick()  # the report to Dagster, every --report-seconds
        if stop_requested.is_set():
            deadline = time.monotonic() + grace_seconds
            while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
                time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # the query failed: StreamingQueryException
        failure = explain_stream_failure(exc, config)
    finally:
        if query.isActive:
            query.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure is None and query.exception() is not None:
        failure = explain_stream_failure(query.exception(), config)
    return failure
