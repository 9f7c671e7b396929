"""The Kafka resource: where the broker is, which topic holds which entity, and cheap offset reads.

Offsets are read with ``KafkaConsumer.end_offsets`` (a ListOffsets request): no group, no commit,
no fetch, so the sensor can call it every tick. Landing gets its own assigned consumer from
:meth:`KafkaResource.assigned_consumer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from pinterest_assets.settings import TOPICS

# A topic-partition as plain data: ("pinterest.pin", 0). Cursors and metadata use "topic/0".
TopicPartitionKey = tuple[str, int]


def tp_label(tp: TopicPartitionKey) -> str:
    return f"{tp[0]}/{tp[1]}"


def parse_tp_label(label: str) -> TopicPartitionKey:
    topic, _, partition = label.rpartition("/")
    return topic, int(partition)


class KafkaResource(dg.ConfigurableResource):
    """A Kafka cluster (kafka-python 3) and the topic of each entity (pin, geo, user)."""

    bootstrap_servers: str = Field(description="host:port[,host:port...] of the brokers")
    topics: dict[str, str] = Field(default_factory=lambda: dict(TOPICS),
                                   description="entity -> topic, e.g. {'pin': 'pinterest.pin'}")
    request_timeout_ms: int = Field(default=10_000, description="timeout of one broker request")
    client_id: str = Field(default="pinterest-dagster")

    @classmethod
    def from_settings(cls, settings=None) -> "KafkaResource":
        from pinterest_assets.settings import get_settings

        return cls(bootstrap_servers=(settings or get_settings()).kafka_bootstrap_servers)

    def topic(self, entity: str) -> str:
        try:
            return self.topics[entity]
        except KeyError:
            raise ValueError(f"no topic configured for entity {entity!r}: "
                             f"KafkaResource.topics has {sorted(self.topics)}") from None

    def _consumer(self):
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            return KafkaConsumer(
                bootstrap_servers=self.bootstrap_servers.split(","),
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                request_timeout_ms=max(self.request_timeout_ms, 1000),
                bootstrap_timeout_ms=self.request_timeout_ms,
            )
        except KafkaError as exc:
            raise dg.Failure(
                f"no Kafka broker reachable at {self.bootstrap_servers}: is the stack up "
                "(`pinterest stack up`) or PINTEREST_KAFKA_BOOTSTRAP right?"
            ) from exc

    @contextmanager
    def consumer(self) -> Iterator["kafka.KafkaConsumer"]:  # noqa: F821
        """A group-less consumer (nothing committed: the lake, not Kafka, records progress)."""
        consumer = self._consumer()
        try:
            yield consumer
        finally:
            consumer.close(autocommit=False)

    @staticmethod
    def partitions(consumer, topics: Iterable[str]) -> list:
        from kafka import TopicPartition

        found = []
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                # a topic that does not exist (yet) has no offsets: nothing to land
                continue
            found.extend(TopicPartition(topic, p) for p in sorted(partitions))
        return found

    def end_offsets(self, topics: Iterable[str] | None = None) -> dict[TopicPartitionKey, int]:
        """The next offset to be written of every partition of `topics` (default: all entities')."""
        topics = list(topics) if topics is not None else list(self.topics.values())
        with self.consumer() as consumer:
            return self._end_offsets(consumer, topics)

    def _end_offsets(self, consumer, topics: Iterable[str]) -> dict[TopicPartitionKey, int]:
        partitions = self.partitions(consumer, topics)
        if not partitions:
            return {}
        ends = consumer.end_offsets(partitions, timeout_ms=self.request_timeout_ms)
        return {(tp.topic, tp.partition): int(off) for tp, off in ends.items()}

    def beginning_offsets(self, topics: Iterable[str]) -> dict[TopicPartitionKey, int]:
        """The oldest offset still held (retention may have deleted older ones)."""
        with self.consumer() as consumer:
            partitions = self.partitions(consumer, topics)
            if not partitions:
                return {}
            starts = consumer.beginning_offsets(partitions, timeout_ms=self.request_timeout_ms)
            return {(tp.topic, tp.partition): int(off) for tp, off in starts.items()}
