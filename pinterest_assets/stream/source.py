"""The stream's source: Kafka pins as the cleaning library's raw frame, and the topic's checks.

The topic's partition count must stay the recorded one while the query runs (:class:`PartitionWatch`);
its Kafka topic id says whether it was recreated (:func:`current_topic_id`).
"""

from dataclasses import dataclass, field

import dagster as dg

from pinterest_assets.ordering import (
    ORDER_COLUMN,
    Epochs,
    PartitionCountChanged,
    checked_epochs,
    count_changed_message,
    order_column,
)
from pinterest_assets.resources.kafka import KafkaResource, client_security
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.stream.config import PIN, PinStreamConfig


def kafka_raw_pins(spark, config: PinStreamConfig, epochs: Epochs | None = None):
    """The streaming raw pin frame: Kafka records as the cleaning library's all-string raw frame.
    A record of a partition `epochs` does not know fails the query (partitions added meanwhile)."""
    reader = (
        spark.readStream.format("kafka")
        .options(**KafkaResource.from_settings(bootstrap_servers=config.resolved_bootstrap()).spark_options())
        .option("subscribe", config.topic)
        .option("startingOffsets", config.starting_offsets)
        .option("failOnDataLoss", str(config.fail_on_data_loss).lower())
        # a parked fetch delayed the next batch with the default 500 ms (docs/decisions.md)
        .option("kafka.fetch.max.wait.ms", "100")
    )
    if config.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(config.max_offsets_per_trigger))
    if config.max_records_per_partition:
        reader = reader.option("maxRecordsPerPartition", str(config.max_records_per_partition))
    return kafka_records_as_raw_pins(reader.load(), epochs, guard=True)


def kafka_records_as_raw_pins(records, epochs: Epochs | None = None, guard: bool = False):
    """Kafka source rows (``value``, ``topic``, ``partition``, ``offset``, ``timestamp``) as the
    cleaning library's all-string raw pin frame, with the lineage columns (``_order`` from `epochs`,
    None: no grow recorded) and ``_landing_reason`` (the landing's rule for the bytes,
    :func:`pinterest_assets.messages.messages_as_json`)."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.messages import messages_as_json

    return raw_frame_from_json(messages_as_json(records.select(
        F.col("value"),
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("timestamp").alias("_timestamp"),
        order_column(epochs, "partition", "offset", guard=guard).alias(ORDER_COLUMN),
    ), "pin"), "value", entity="pin", parsed="_json")



def stream_epochs(config: PinStreamConfig, lake: LakeResource) -> Epochs | None:
    """The topic's order epochs; fails when its partition count is not the recorded one."""
    kafka = KafkaResource.from_settings(bootstrap_servers=config.resolved_bootstrap())
    with kafka.consumer() as consumer:
        offsets = kafka.offset_ranges(consumer, config.topic)
    if offsets is None:
        return None  # Spark says the topic is missing
    return checked_epochs(lake, PIN.name, config.topic, len(offsets.ranges), "nothing was streamed")


def current_topic_id(config: PinStreamConfig) -> tuple[str, str] | None:
    """(topic, its Kafka topic id) now; None when the topic does not exist (Spark says so) or the
    broker gives no ids. Bounded: a dead broker is a clear dg.Failure, not a hang."""
    kafka = KafkaResource.from_settings(bootstrap_servers=config.resolved_bootstrap())
    with kafka.consumer() as consumer:
        offsets = kafka.offset_ranges(consumer, config.topic)
    if offsets is None or not offsets.topic_id:
        return None
    return config.topic, offsets.topic_id


@dataclass
class PartitionWatch:
    """Before each micro-batch commits: the topic still has the partition count the query started
    with (partitions added while it runs would be read with the old epochs)."""

    bootstrap: str
    epochs: Epochs | None
    patience_s: float = 60.0  # a broker restart is waited for, not failed on
    _admin: object = field(default=None, repr=False)

    def partition_count(self) -> int:
        import time

        from kafka import KafkaAdminClient

        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","),
                                                   request_timeout_ms=10000, **client_security())
                described = self._admin.describe_topics([self.epochs.topic])
                return len(described[0]["partitions"]) if described else 0
            except Exception as exc:  # noqa: BLE001 - any broker trouble: retry, then fail loudly
                self.close()
                if time.monotonic() > deadline:
                    raise dg.Failure(
                        f"could not read the partition count of {self.epochs.topic} from Kafka at "
                        f"{self.bootstrap} for {self.patience_s:.0f}s ({type(exc).__name__}: {exc}); the "
                        "micro-batch was not written and is re-run when the stream restarts") from exc
                time.sleep(1.0)

    def check(self) -> None:
        if self.epochs is None:
            return
        now = self.partition_count()
        if now != self.epochs.partitions:
            raise PartitionCountChanged(count_changed_message(
                PIN.name, self.epochs.topic, self.epochs.partitions, now,
                "this micro-batch was not written; restart the stream after the grow"))

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None



class KafkaLag:
    """Records behind: Kafka end offsets of the topic minus given (committed) offsets.

    One kafka-python consumer (no group, nothing committed) kept for the probe's life.
    """

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self._consumer = None
        self._partitions = None

    def end_offsets(self) -> dict[str, int]:
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                           request_timeout_ms=10000, **client_security())
        if not self._partitions:
            parts = self._consumer.partitions_for_topic(self.topic) or set()
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]
        ends = self._consumer.end_offsets(self._partitions) if self._partitions else {}
        return {str(tp.partition): int(o) for tp, o in ends.items()}

    def behind(self, committed: dict[str, dict[str, int]]) -> int:
        done = committed.get(self.topic, {})
        return sum(max(0, end - done.get(p, 0)) for p, end in self.end_offsets().items())

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

