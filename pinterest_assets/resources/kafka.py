"""The Kafka resource: where the broker is, which topic holds which entity, cheap offset reads and
the assigned consumer that raw landing reads with.

Offsets are read with ``KafkaConsumer.end_offsets`` / ``beginning_offsets`` (ListOffsets
requests): no group, no commit, no fetch, so the sensor can call them every tick. Landing reads
:meth:`KafkaResource.offset_ranges` and a consumer from :meth:`KafkaResource.assigned_consumer`.

Every broker call is bounded: kafka-python's metadata refresh has no timeout of its own, so the
calls here run under a deadline (``operation_timeout_s``) and a dead broker fails the run with
a message naming the bootstrap address and the operation, instead of hanging it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg
from pydantic import Field

from pinterest_assets import entities as registry
from pinterest_assets.kafka_security import KafkaSecurity, explain

PASSWORD_ENV = "PINTEREST_KAFKA_SASL_PASSWORD"

# A topic-partition as plain data: ("pinterest.pin", 0). Cursors and metadata use "topic/0".
TopicPartitionKey = tuple[str, int]


T = TypeVar("T")


def tp_label(tp: TopicPartitionKey) -> str:
    return f"{tp[0]}/{tp[1]}"


class KafkaUnavailable(dg.Failure):
    """The broker did not answer an operation in time."""


@dataclass(frozen=True)
class TopicOffsets:
    """What Kafka holds of one topic now: its id (changes when the topic is recreated) and, per
    partition, the oldest offset still held and the next offset to be written."""

    topic: str
    topic_id: str | None
    ranges: dict[int, tuple[int, int]]  # partition -> (beginning, end)


class KafkaResource(dg.ConfigurableResource):
    """A Kafka cluster (kafka-python 3) and the topic of each entity (pin, geo, user)."""

    bootstrap_servers: str = Field(description="host:port[,host:port...] of the brokers")
    topics: dict[str, str] = Field(default_factory=registry.topics,
                                   description="entity -> topic, e.g. {'pin': 'pinterest.pin'}")
    request_timeout_ms: int = Field(default=10_000, gt=0, description="timeout of one broker request")
    operation_timeout_s: float = Field(
        default=30.0, gt=0, le=300,
        description="deadline of one Kafka operation (metadata, offsets, a fetch that makes no progress)")
    client_id: str = Field(default="pinterest-dagster")
    security_protocol: str = Field(default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str = Field(default="SCRAM-SHA-512", description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN")
    sasl_username: str | None = None
    sasl_password: str | None = Field(
        default=None, description="dg.EnvVar('PINTEREST_KAFKA_SASL_PASSWORD'), so the UI never shows it")
    ssl_cafile: str | None = Field(default=None, description="PEM file of the CAs to trust")
    ssl_check_hostname: bool = True

    @classmethod
    def from_settings(cls, settings=None, bootstrap_servers: str | None = None) -> "KafkaResource":
        """The cluster and security of PINTEREST_KAFKA_* (the password as an EnvVar)."""
        from pinterest_assets.settings import get_settings

        settings = settings or get_settings()
        security = settings.kafka_security
        return cls(bootstrap_servers=bootstrap_servers or settings.kafka_bootstrap_servers,
                   security_protocol=security.protocol, sasl_mechanism=security.mechanism,
                   sasl_username=security.username,
                   sasl_password=dg.EnvVar(PASSWORD_ENV) if security.password is not None else None,
                   ssl_cafile=security.cafile, ssl_check_hostname=security.check_hostname)

    @property
    def security(self) -> KafkaSecurity:
        password = self.sasl_password
        if isinstance(password, dg.EnvVar):  # used outside Dagster: resolve here
            password = password.get_value()
        return KafkaSecurity(protocol=self.security_protocol, mechanism=self.sasl_mechanism,
                             username=self.sasl_username, password=password, cafile=self.ssl_cafile,
                             check_hostname=self.ssl_check_hostname)

    def client_options(self) -> dict:
        """kafka-python keyword arguments of this cluster (bootstrap and security)."""
        return {"bootstrap_servers": self.bootstrap_servers.split(","), **self.security.python_options()}

    def spark_options(self) -> dict[str, str]:
        """Spark Kafka source/sink options (``kafka.bootstrap.servers`` and ``kafka.``-prefixed security)."""
        return {"kafka.bootstrap.servers": self.bootstrap_servers, **self.security.spark_options()}

    def explain_failure(self) -> str:
        """One line naming why the cluster cannot be used (TLS, SASL, reachability), for error messages."""
        return explain(self.bootstrap_servers, self.security) or (
            f"is the stack up (`pinterest stack status`) and PINTEREST_KAFKA_BOOTSTRAP right?")

    def topic(self, entity: str) -> str:
        try:
            return self.topics[entity]
        except KeyError:
            raise ValueError(f"no topic configured for entity {entity!r}: "
                             f"KafkaResource.topics has {sorted(self.topics)}") from None

    def bounded(self, operation: str, fn: Callable[[], T], timeout_s: float | None = None) -> T:
        """`fn()` under a deadline: a broker that stops answering fails with a clear message.

        kafka-python blocks without a timeout in some metadata paths; the call runs in a daemon
        thread, and if the deadline passes the run fails (the thread is abandoned with the client).
        """
        from kafka.errors import KafkaError

        deadline = timeout_s if timeout_s is not None else self.operation_timeout_s
        box: dict = {}

        def target():
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=target, name=f"kafka-{operation}", daemon=True)
        thread.start()
        thread.join(deadline)
        if thread.is_alive():
            raise KafkaUnavailable(
                f"Kafka at {self.bootstrap_servers} did not answer '{operation}' within {deadline:.0f}s: "
                f"{self.explain_failure()}")
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, KafkaError):
                raise KafkaUnavailable(
                    f"Kafka at {self.bootstrap_servers} failed '{operation}': {type(exc).__name__}: {exc}"
                ) from exc
            raise exc
        return box["value"]

    def _consumer(self):
        return self.bounded("connect", self._new_consumer)

    def _new_consumer(self):
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            return KafkaConsumer(
                **self.client_options(),
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                request_timeout_ms=max(self.request_timeout_ms, 1000),
                bootstrap_timeout_ms=self.request_timeout_ms,
            )
        except KafkaError as exc:
            raise KafkaUnavailable(f"no Kafka broker usable at {self.bootstrap_servers}: {self.explain_failure()}"
                                   ) from None

    @contextmanager
    def consumer(self) -> Iterator["kafka.KafkaConsumer"]:  # noqa: F821
        """A group-less consumer (nothing committed: the lake, not Kafka, records progress)."""
        consumer = self._consumer()
        try:
            yield consumer
        finally:
            consumer.close(autocommit=False)

    def partitions(self, consumer, topics: Iterable[str]) -> list:
        """The TopicPartitions of `topics` (a topic that does not exist has none)."""
        from kafka import TopicPartition

        found = []
        for topic in topics:
            partitions = self.bounded(f"metadata of {topic}", lambda t=topic: consumer.partitions_for_topic(t))
            found.extend(TopicPartition(topic, p) for p in sorted(partitions or ()))
        return found

    def offset_ranges(self, consumer, topic: str) -> TopicOffsets | None:
        """Per partition of `topic`, (oldest offset held, next offset); None when the topic does not exist."""
        partitions = self.partitions(consumer, [topic])
        if not partitions:
            return None
        timeout = self.request_timeout_ms
        ends = self.bounded(f"end offsets of {topic}", lambda: consumer.end_offsets(partitions, timeout_ms=timeout))
        begins = self.bounded(f"beginning offsets of {topic}",
                              lambda: consumer.beginning_offsets(partitions, timeout_ms=timeout))
        topic_id = consumer._cluster.topic_id(topic)  # cached by the metadata call above
        return TopicOffsets(
            topic=topic,
            topic_id=str(topic_id) if topic_id else None,
            ranges={tp.partition: (int(begins[tp]), int(ends[tp])) for tp in partitions},
        )

    @contextmanager
    def assigned_consumer(self, topic: str, partition: int, start: int) -> Iterator["kafka.KafkaConsumer"]:  # noqa: F821
        """A group-less consumer assigned to one partition and positioned at `start`."""
        from kafka import TopicPartition

        with self.consumer() as consumer:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, start)
            yield consumer

    def end_offsets(self, topics: Iterable[str] | None = None) -> dict[TopicPartitionKey, int]:
        """The next offset to be written of every partition of `topics` (default: all entities')."""
        topics = list(topics) if topics is not None else list(self.topics.values())
        with self.consumer() as consumer:
            return self._end_offsets(consumer, topics)

    def _end_offsets(self, consumer, topics: Iterable[str]) -> dict[TopicPartitionKey, int]:
        partitions = self.partitions(consumer, topics)
        if not partitions:
            return {}
        ends = self.bounded("end offsets", lambda: consumer.end_offsets(partitions, timeout_ms=self.request_timeout_ms))
        return {(tp.topic, tp.partition): int(off) for tp, off in ends.items()}

    def beginning_offsets(self, topics: Iterable[str]) -> dict[TopicPartitionKey, int]:
        """The oldest offset still held (retention may have deleted older ones)."""
        with self.consumer() as consumer:
            partitions = self.partitions(consumer, topics)
            if not partitions:
                return {}
            starts = self.bounded("beginning offsets", lambda: consumer.beginning_offsets(
                partitions, timeout_ms=self.request_timeout_ms))
            return {(tp.topic, tp.partition): int(off) for tp, off in starts.items()}


def client_security() -> dict:
    """kafka-python security options of the current settings (for clients built outside a resource)."""
    from pinterest_assets.settings import get_settings

    return get_settings().kafka_security.python_options()
