"""Producing to Kafka from asyncio without blocking the event loop, and without lying about acks.

One `KafkaProducer` (acks=all, idempotent) per API process. `send()` only appends to the
producer's in-memory batches, so it runs on the event loop; each record's future is bridged to an
asyncio future that the sender thread completes via `loop.call_soon_threadsafe`. Nothing flushes
per request: the producer's own batching (linger) groups the records of concurrent requests.

A record counts as produced only when the broker acknowledged it. If that does not happen within
`ack_timeout` seconds the caller gets `ProduceUnavailable` (the API answers 503): the record was
not confirmed and the client should retry, which may produce a duplicate — duplicates are normal
input downstream, losses are not.

A topic missing on the broker (never created, or deleted) makes only that topic unavailable:
`TopicMissing` (a `ProduceUnavailable` naming the topic) for its records, answered at once while
it stays missing; the other topics keep producing. The topic is picked up again when it appears.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import threading
import time
from dataclasses import dataclass

from kafka.partitioner import DefaultPartitioner, Partitioner

log = logging.getLogger(__name__)


class ProduceUnavailable(Exception):
    """Kafka did not acknowledge in time, or is not reachable: retry later (HTTP 503)."""


class TopicMissing(ProduceUnavailable):
    """The topic does not exist on the broker (auto-creation is off): only its endpoint is down."""


class RecordTooLarge(Exception):
    """The serialised record is larger than the producer's (and broker's) maximum (HTTP 413)."""


@dataclass(frozen=True)
class Ack:
    topic: str
    partition: int
    offset: int


class AsyncProducer:
    """An idempotent, acks=all `KafkaProducer` used from one asyncio event loop."""

    def __init__(self, bootstrap_servers: str, ack_timeout: float = 5.0, linger_ms: int = 5,
                 max_pending: int = 200_000, max_record_bytes: int = 2_000_000,
                 client_id: str = "pinterest-ingest-api", security=None):
        from pinterest_assets.kafka_security import KafkaSecurity

        self.bootstrap_servers = bootstrap_servers
        self.security = security or KafkaSecurity()
        self.ack_timeout = ack_timeout
        self.linger_ms = linger_ms
        self.max_pending = max_pending
        self.max_record_bytes = max_record_bytes
        self.client_id = client_id
        self._producer = None
        self._connect_error: str | None = f"not connected to Kafka at {bootstrap_servers} yet"
        self._stop = threading.Event()
        self._connector: threading.Thread | None = None
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._completions: _Completions | None = None
        self._last_ack = time.monotonic()
        self._replacing = threading.Lock()
        self._missing: dict[str, tuple[str, float]] = {}  # topic -> (message, last metadata request)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect in the background: the API serves (and answers 503) while Kafka is down."""
        self._connector = threading.Thread(target=self._connect_loop, name="kafka-connect", daemon=True)
        self._connector.start()

    def _connect_loop(self) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        from pinterest_assets import entities as registry

        request_timeout_ms = max(1000, int(self.ack_timeout * 1000))
        delay = 0.2
        while not self._stop.is_set():
            producer = None
            try:
                producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap_servers.split(","),
                    **self.security.python_options(),
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self.linger_ms,
                    batch_size=256 * 1024,
                    max_request_size=self.max_record_bytes,
                    # An unacknowledged record expires shortly after the API has answered 503 for
                    # it, so a record the client was told to retry rarely lands late as well.
                    request_timeout_ms=request_timeout_ms,
                    delivery_timeout_ms=request_timeout_ms + self.linger_ms + 1000,
                    max_block_ms=max(1000, int(self.ack_timeout * 1000)),
                    bootstrap_timeout_ms=3000,
                    reconnect_backoff_max_ms=1000,
                    metrics_enabled=False,
                    partitioner=KeyPartitioner(),
                    # a topic that gained partitions is seen within 2 s, inside the quiet period of
                    # `pinterest topic grow` (which then stops the pipeline if this API wrote meanwhile)
                    metadata_max_age_ms=2000,
                )
                # warm the metadata so send() never waits for it; a missing topic is noted, not fatal
                missing = self._warm_metadata(producer, list(registry.topics().values()))
            except (KafkaError, OSError, ValueError) as exc:
                if producer is not None:  # built, then the metadata failed: close it, or each retry leaks one
                    _close_quietly(producer)
                from pinterest_assets.kafka_security import explain

                self._connect_error = (explain(self.bootstrap_servers, self.security)
                                       or f"cannot reach Kafka at {self.bootstrap_servers}: {exc}")
                log.warning("%s; retrying", self._connect_error)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._stop.is_set():
                _close_quietly(producer)
                return
            now = time.monotonic()
            self._missing = {t: (self._missing_message(t), now) for t in missing}
            for topic in missing:
                log.warning("%s", self._missing_message(topic))
            self._last_ack = now
            self._producer = producer
            self._connect_error = None
            log.info("connected to Kafka at %s", self.bootstrap_servers)
            return

    def _missing_message(self, topic: str) -> str:
        return (f"Kafka topic {topic!r} does not exist on {self.bootstrap_servers} (create it, e.g. "
                f"`pinterest stack up` creates the pinterest topics); its records cannot be produced")

    def _warm_metadata(self, producer, topics: list[str]) -> list[str]:
        """Fetch the metadata of every topic within one bound; return the topics the broker does not
        have. Raises KafkaTimeoutError when the broker did not answer at all."""
        from kafka.errors import KafkaTimeoutError

        started = time.monotonic()
        deadline = started + max(1.0, min(self.ack_timeout, 5.0))
        sender = getattr(producer, "_sender", None)
        for topic in topics:  # one metadata request covers them all
            if sender is not None and hasattr(sender, "add_topic"):
                sender.add_topic(topic)
        missing = []
        for topic in topics:
            left_ms = max(50, int((deadline - time.monotonic()) * 1000))
            try:
                if hasattr(producer, "_wait_on_metadata"):
                    producer._wait_on_metadata(topic, left_ms)
                else:
                    producer.partitions_for(topic)
            except KafkaTimeoutError:
                if not _topic_absent(producer, topic, started):
                    raise
                missing.append(topic)
        return missing

    def missing_topics(self) -> set[str]:
        """Topics found missing on the broker (their endpoints answer 503)."""
        return set(self._missing)

    def _note_failure(self) -> None:
        """Acks keep failing: after a broker crash (SIGKILL, restart) kafka-python's idempotent
        producer can stay wedged on the partitions whose batches expired, answering every later
        record with a timeout although the broker is back. When nothing has been acknowledged for
        twice the ack bound, replace the producer (requests get 503 meanwhile); the records the
        old one still holds were already answered 503, so dropping it loses no accepted event."""
        if time.monotonic() - self._last_ack < 2 * self.ack_timeout or self._stop.is_set():
            return
        if not self._replacing.acquire(blocking=False):
            return
        old, self._producer = self._producer, None
        self._connect_error = "reconnecting to Kafka after acknowledgements stopped"
        log.warning("no Kafka acknowledgement for %.0f s: replacing the producer", time.monotonic() - self._last_ack)

        def replace():
            try:
                if old is not None:
                    try:
                        old.close(timeout=0)
                    except Exception as exc:  # noqa: BLE001 - the old producer is being discarded
                        log.info("closing the old producer: %s", exc)
                self._connect_loop()
            finally:
                self._replacing.release()

        threading.Thread(target=replace, name="kafka-reconnect", daemon=True).start()

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is buffered (up to `timeout`), then close."""
        self._stop.set()
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=timeout)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    @property
    def pending(self) -> int:
        return self._pending

    async def reachable(self, timeout: float = 1.0) -> tuple[bool, str]:
        """Whether the producer exists and a bootstrap broker accepts a TCP connection now."""
        if self._producer is None:
            return False, self._connect_error or "not connected"
        for server in self.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)),
                                                   timeout)
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                last = f"Kafka broker {server} not reachable: {exc or type(exc).__name__}"
                continue
            writer.close()
            return True, "ok"
        return False, last

    # ------------------------------------------------------------------ producing
    def _track(self, delta: int) -> None:
        with self._pending_lock:
            self._pending += delta

    def _send(self, producer, topic: str, key: bytes, value: bytes):
        """send() on the producer the caller captured (never re-read self._producer: a swap may
        have happened meanwhile, and the record must go to the producer whose future we await)."""
        from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

        try:
            return producer.send(topic, value=value, key=key)
        except MessageSizeTooLargeError as exc:
            raise RecordTooLarge(str(exc)) from exc
        except KafkaTimeoutError as exc:
            # send() waited up to max_block_ms for the topic's metadata: was it answered meanwhile?
            waited_since = time.monotonic() - producer.config["max_block_ms"] / 1000 - 0.1
            if _topic_absent(producer, topic, waited_since):
                message = self._missing_message(topic)
                self._missing[topic] = (message, time.monotonic())
                log.warning("%s", message)
                raise TopicMissing(message) from None
            raise ProduceUnavailable(f"Kafka metadata for {topic!r} unavailable: {exc}") from exc

    async def _send_nonblocking(self, topic: str, key: bytes, value: bytes, producer):
        if producer is None:
            raise ProduceUnavailable(self._connect_error or "Kafka producer not connected")
        if self._pending >= self.max_pending:
            raise ProduceUnavailable(f"{self._pending} records await Kafka acknowledgement; slow down")
        # send() only blocks when it has no metadata for the topic (it then waits up to
        # max_block_ms); in that rare case run it off the event loop.
        if producer._metadata.partitions_for_topic(topic) is None:
            missing = self._missing.get(topic)
            if missing is not None:  # known missing: answer at once, and look again now and then
                message, checked = missing
                if time.monotonic() - checked > 2.0:
                    self._missing[topic] = (message, time.monotonic())
                    _request_metadata(producer, topic)
                raise TopicMissing(message)
            return await asyncio.get_running_loop().run_in_executor(None, self._send, producer, topic, key, value)
        if self._missing and topic in self._missing:
            del self._missing[topic]
            log.info("Kafka topic %r is available again", topic)
        return self._send(producer, topic, key, value)

    async def produce(self, topic: str, key: bytes, value: bytes) -> Ack:
        """Produce one record; return its partition/offset once the broker acknowledged it."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        producer = self._producer
        future = await self._send_nonblocking(topic, key, value, producer)
        self._track(1)

        completions = self._completions_for(loop)
        future.add_callback(lambda md: completions.put(waiter, md, None))
        future.add_errback(lambda exc: completions.put(waiter, None, exc))
        md = await self._await(waiter, 1, topic, producer)
        self._last_ack = time.monotonic()
        return Ack(md.topic, md.partition, md.offset)

    async def produce_many(self, topic: str, records: list[tuple[bytes, bytes]]) -> list[Ack]:
        """Produce records in order; return their acks once the broker acknowledged all of them.

        One asyncio wake-up per batch (not per record): the sender thread counts completions and
        settles the waiter when the last one arrives or the first one fails.
        """
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        results: list = [None] * len(records)
        state = {"left": len(records), "failed": False}
        lock = threading.Lock()

        def on_done(i, md, exc):
            self._track(-1)
            with lock:
                if state["failed"]:
                    return
                if exc is not None:
                    state["failed"] = True
                    settle_with = (None, exc)
                else:
                    results[i] = md
                    state["left"] -= 1
                    if state["left"]:
                        return
                    settle_with = (results, None)
            loop.call_soon_threadsafe(_settle, waiter, *settle_with)

        if not records:
            return []
        producer = self._producer  # one producer for the whole batch, even if a swap happens meanwhile
        for i, (key, value) in enumerate(records):
            future = await self._send_nonblocking(topic, key, value, producer)
            self._track(1)
            future.add_callback(lambda md, i=i: on_done(i, md, None))
            future.add_errback(lambda exc, i=i: on_done(i, None, exc))
        mds = await self._await(waiter, len(records), topic, producer)
        self._last_ack = time.monotonic()
        return [Ack(md.topic, md.partition, md.offset) for md in mds]

    def _completions_for(self, loop) -> _Completions:
        completions = self._completions
        if completions is None or completions.loop is not loop:
            completions = self._completions = _Completions(loop, self._track)
        return completions

    async def _await(self, waiter: asyncio.Future, count: int, topic: str | None = None, producer=None):
        from kafka.errors import KafkaError, MessageSizeTooLargeError

        started = time.monotonic()
        # call_later + cancel is cheaper than asyncio.wait_for on this per-request path
        timer = asyncio.get_running_loop().call_later(self.ack_timeout, _expire, waiter)
        try:
            return await waiter
        except _AckTimeout:
            self._fail_unless_topic_missing(topic, producer)
            raise ProduceUnavailable(
                f"Kafka did not acknowledge {count} record(s) within {self.ack_timeout:g} s") from None
        except MessageSizeTooLargeError as exc:
            raise RecordTooLarge(str(exc)) from exc
        except KafkaError as exc:
            self._fail_unless_topic_missing(topic, producer)
            raise ProduceUnavailable(
                f"Kafka rejected the record(s) after {time.monotonic() - started:.1f} s: {exc}") from exc
        finally:
            timer.cancel()

    def _fail_unless_topic_missing(self, topic, producer) -> None:
        """A topic deleted under a running producer: its records time out; name the topic, and
        don't count it against the producer (the other topics are fine, no replacement needed)."""
        if topic is not None and producer is not None and producer._metadata.partitions_for_topic(topic) is None \
                and topic in getattr(producer._metadata, "_topics", ()):
            message = self._missing_message(topic)
            self._missing.setdefault(topic, (message, time.monotonic()))
            raise TopicMissing(message)
        self._note_failure()


class _AckTimeout(Exception):
    pass


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(_AckTimeout())


class _Completions:
    """Hands acks from the sender thread to the event loop, one loop wake-up per burst.

    The sender thread completes every record of a produce response in one go; instead of a
    `call_soon_threadsafe` (a self-pipe write and a loop wake-up) per record, completions queue up
    and a single scheduled drain settles them all.
    """

    def __init__(self, loop, track):
        self.loop, self.track = loop, track
        self.queue: collections.deque = collections.deque()
        self.scheduled = False

    def put(self, waiter, result, error) -> None:  # sender thread
        self.track(-1)
        self.queue.append((waiter, result, error))
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:  # event loop
        self.scheduled = False
        queue = self.queue
        while queue:
            _settle(*queue.popleft())


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (as `kafka.partitioner.default.murmur2`), a word at a time: ~3x faster."""
    length = len(data)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for k in struct.unpack_from(f"<{n4}I", data):
        k = (k * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    extra = length & 3
    tail = n4 * 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h = ((h ^ data[tail]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


class KeyPartitioner(Partitioner):
    """The default partitioner's key -> partition mapping (Java-compatible murmur2), cheaper:
    the faster hash, and no sorting of the partition list per record."""

    def __init__(self):
        self._fallback = DefaultPartitioner()

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        if serialized_key is None:
            return self._fallback.partition(topic, key, serialized_key, value, serialized_value, cluster)
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            return self._fallback.partition(topic, key, serialized_key, value, serialized_value, cluster)
        count = len(partitions)
        index = (murmur2(bytes(serialized_key)) & 0x7FFFFFFF) % count
        return index if partitions == set(range(count)) else sorted(partitions)[index]


def _topic_absent(producer, topic: str, since: float) -> bool:
    """True when a metadata answer newer than `since` (time.monotonic()) lacks `topic`: the broker
    is up and the topic does not exist, as opposed to a broker that does not answer."""
    metadata = producer._metadata
    if metadata.partitions_for_topic(topic) is not None:
        return False
    refreshed = getattr(metadata, "_last_successful_refresh_ms", 0) / 1000
    return refreshed >= since and bool(metadata.brokers())


def _request_metadata(producer, topic: str) -> None:
    """Ask the producer's sender thread for fresh metadata (non-blocking)."""
    try:
        sender = producer._sender
        sender.add_topic(topic)
        producer._metadata.request_update()
        sender.wakeup()
    except Exception as exc:  # noqa: BLE001 - best effort; the next look will try again
        log.debug("metadata request for %s failed: %s", topic, exc)


def _close_quietly(producer) -> None:
    try:
        producer.close(timeout=0)
    except Exception as exc:  # noqa: BLE001 - it is being discarded
        log.info("closing a discarded Kafka producer: %s", exc)


def _settle(waiter: asyncio.Future, result, error) -> None:
    if waiter.done():  # timed out already
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)
