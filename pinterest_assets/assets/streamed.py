"""``pin_stream``: pins streamed from Kafka, cleaned, and upserted into ``pinterest.pin_stream``.

The engine is :mod:`pinterest_assets.stream`; this module is the Dagster asset around it.
"""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets import entities as registry
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.resources.postgres import SCHEMA, PostgresResource
from pinterest_assets.stream.checkpoint import CheckpointInUse, committed_offsets
from pinterest_assets.stream.config import PIN, PinStreamConfig
from pinterest_assets.stream.postgres_sink import PinStreamSink
from pinterest_assets.stream.query import explain_stream_failure, start_pin_stream


@dg.asset(
    group_name=registry.GROUP,
    kinds={"spark", "postgres"},
    owners=registry.OWNERS,
    deps=[PIN.topic_asset],
    description=(
        "Pins streamed from Kafka `pinterest.pin` through the shared cleaning library and upserted "
        "into Postgres `pinterest.pin_stream` (primary key unique_id, newest event wins, Kafka "
        "partition/offset/timestamp kept). Each materialization processes everything new "
        "(trigger availableNow) and ends; the checkpoint plus the forward-only upsert make restarts "
        "exactly-once. `pinterest stream` runs the same query continuously; while it runs it owns "
        "the checkpoint, and this asset leaves the work to it (no materialization, the step succeeds)."
    ),
    output_required=False,
    metadata={
        "table": f"{SCHEMA}.{PIN.stream_table}",
        "rejects_table": f"{SCHEMA}.{PIN.stream_table}_rejects",
        "primary_key": PIN.key,
        "source_topic": PIN.topic,
    },
)
def pin_stream(context: dg.AssetExecutionContext, config: PinStreamConfig, kafka: KafkaResource,
               pyspark: LazyPySparkResource, postgres: PostgresResource, lake: LakeResource):
    spark = pyspark.spark_session
    if not config.bootstrap_servers:
        config = config.model_copy(update={"bootstrap_servers": kafka.bootstrap_servers})
    before = committed_offsets(config.resolved_checkpoint())
    sink = PinStreamSink(postgres, table=config.table, on_batch=lambda r: context.log.info(
        f"batch {r.batch_id}: {r.staged} keys staged, {r.upserted} upserted, {r.rejects} rejects"))
    try:
        query, _ = start_pin_stream(
            spark, config, sink, postgres=postgres, trigger={"availableNow": True}, log=context.log,
            owner=f"Dagster run {context.run_id[:8]} ({context.job_name})", lake=lake,
        )
    except CheckpointInUse as exc:  # a running `pinterest stream` does this work: leave it to it
        context.log.info(f"pin_stream left to the running stream ({exc.description})")
        return
    try:
        query.awaitTermination()
    except Exception as exc:  # StreamingQueryException: Spark's message, plus what to do
        raise dg.Failure(explain_stream_failure(exc, config)) from exc
    finally:
        if query.isActive:
            query.stop()
        sink.close()
    after = committed_offsets(config.resolved_checkpoint())
    from psycopg import sql

    with postgres.connect() as conn:
        total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(SCHEMA, config.table))).fetchone()[0]
    yield dg.MaterializeResult(
        metadata={
            "rows_upserted": sink.upserted,
            "keys_staged": sink.staged,
            "rejects": sink.rejects,
            "batches": sink.batches,
            "offsets_before": dg.MetadataValue.json(before),
            "offsets_reached": dg.MetadataValue.json(after),
            "table": f"{SCHEMA}.{config.table}",
            "dagster/row_count": total,
            "checkpoint": config.resolved_checkpoint(),
        }
    )

