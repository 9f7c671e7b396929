"""Warming a fresh JVM on the stream's per-batch work before the query subscribes."""

from datetime import datetime, timezone

from pinterest_assets.stream.postgres_sink import line_batches, sink_lines
from pinterest_assets.stream.source import kafka_records_as_raw_pins


def warm_up(spark, values: list[bytes], rounds: int = 2, replans: int = 20) -> tuple[int, int]:
    """Run the stream's per-batch work (cleaning, COPY formatting, the Arrow hand-over) on sample
    Kafka values and throw the result away; returns the last round's (clean, reject) line counts.

    A fresh JVM runs that code slowly at first, so the first batches would start far behind; after
    the rounds the frame is re-planned `replans` times without a job (docs/decisions.md, "Warm-up").
    Nothing is written anywhere."""
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("value", T.BinaryType()), T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()), T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
    ])
    now = datetime.now(timezone.utc)
    rows = [(bytearray(v), "warm-up", i % 3, i, now) for i, v in enumerate(values)]
    frame = spark.createDataFrame(rows, schema)
    lines = sink_lines(kafka_records_as_raw_pins(frame.repartition(2)))
    made = (0, 0)
    for _ in range(max(1, rounds)):
        made = (0, 0)
        for clean, rejects in line_batches(lines):
            made = (made[0] + len(clean), made[1] + len(rejects))
    if replans > 0:
        # without the shuffle, which adaptive execution would run to plan past it: no job at all
        unshuffled = sink_lines(kafka_records_as_raw_pins(frame))
        for _ in range(replans):
            unshuffled.select("*")._jdf.queryExecution().toRdd()  # a new plan: optimize, plan, codegen
    return made
