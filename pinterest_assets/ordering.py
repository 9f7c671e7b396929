"""The one order rule: which version of a key is the newest.

A record's place in the order is ``(epoch, partition, offset)``, held in one sortable column,
``_order`` (``_kafka_order`` in Postgres), DECIMAL(38,0) with the digits ``EEEEEEEEE PPPPPPPPPP
OOOOOOOOOOOOOOOOOOO`` (9 + 10 + 19: any Kafka partition and offset fit). Batch (``latest_per_key``),
the stream's upsert and the dbt staging models all just compare ``_order``; it is computed here only.

The epoch counts partition changes. ``pinterest topic grow`` (:func:`grow_topic`) records, before
it adds partitions, every partition's end offset: a boundary. A record's epoch is the number of
boundaries at or below its offset in its partition (a partition created by grow ``k`` has boundary
0 for grows ``1..k``). The producers are stopped during a grow, so every record of epoch ``k`` was
written before every record of epoch ``k+1``, and within one epoch the API's key partitioner keeps
every version of a key in one partition: there the offset decides. The partition only matters for
a key split by a producer that bypasses the API (it then decides, as it always did).

The boundaries and the partition count live in the lake, ``raw/<entity>/_partitions/<topic>.json``
(written by the first landing or stream start, and by the grow). A topic whose partition count
differs from the recorded one stops the landing and the stream with :class:`PartitionCountChanged`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import dagster as dg

from pinterest_assets.resources.lake import LAYOUT, LakeResource

ORDER_COLUMN = "_order"
ORDER_TYPE = "decimal(38,0)"
EPOCH_DIGITS, PARTITION_DIGITS, OFFSET_DIGITS = 9, 10, 19
GROW_COMMAND = "pinterest topic grow {entity} --partitions N"
STOPPED = "order rule stopped:"  # starts every refusal, also when Spark raises it


def order_value(epoch: int, partition: int, offset: int) -> int:
    """The ``_order`` of a record, in Python. Example: (1, 2, 7) -> 1_0000000002_0000000000000000007."""
    return (epoch * 10 ** PARTITION_DIGITS + partition) * 10 ** OFFSET_DIGITS + offset


def legacy_order_sql(partition_sql: str, offset_sql: str) -> str:
    """``_kafka_order`` in SQL for rows stored before the column existed (epoch 0: no grow yet)."""
    return f"({partition_sql}::numeric * 1e{OFFSET_DIGITS} + {offset_sql})::numeric(38,0)"


class PartitionCountChanged(dg.Failure):
    """A topic's partition count is not the one its order rule was recorded for."""


@dataclass(frozen=True)
class Epochs:
    """A topic's recorded partition count and grow boundaries (partition -> end offset at the grow)."""

    topic: str
    partitions: int
    boundaries: tuple[dict[int, int], ...] = ()
    confirmed: bool = True  # False from recording a grow's boundary until it is known to hold

    def epoch(self, partition: int, offset: int) -> int:
        return sum(1 for b in self.boundaries if offset >= b.get(partition, 0))

    def order(self, partition: int, offset: int) -> int:
        return order_value(self.epoch(partition, offset), partition, offset)

    def to_json(self) -> str:
        return json.dumps({"topic": self.topic, "partitions": self.partitions, "confirmed": self.confirmed,
                           "boundaries": [{str(p): o for p, o in sorted(b.items())} for b in self.boundaries]})

    @classmethod
    def from_json(cls, text: str) -> Epochs:
        data = json.loads(text)
        return cls(data["topic"], int(data["partitions"]),
                   tuple({int(p): int(o) for p, o in b.items()} for b in data.get("boundaries", [])),
                   bool(data.get("confirmed", True)))


def order_column(epochs: Epochs | None, partition: str = "_partition", offset: str = "_offset",
                 guard: bool = False):
    """``_order`` as a Spark column from the partition and offset columns (``epochs`` None: no grow).

    With ``guard``, a record of a partition the epochs do not know fails the Spark job with the
    :func:`count_changed_message` (the stream: partitions added while it ran)."""
    from pyspark.sql import functions as F

    part, off = F.col(partition), F.col(offset)
    epoch = F.lit(0)
    for boundary in (epochs.boundaries if epochs else ()):
        start = F.lit(0).cast("long")
        for p, o in sorted(boundary.items()):
            start = F.when(part == p, F.lit(o).cast("long")).otherwise(start)
        epoch = epoch + F.when(off >= start, 1).otherwise(0)
    digits = f"%0{EPOCH_DIGITS}d%0{PARTITION_DIGITS}d%0{OFFSET_DIGITS}d"
    value = F.format_string(digits, epoch.cast("int"), part.cast("int"), off.cast("long")).cast(ORDER_TYPE)
    if guard and epochs is not None:
        # STOPPED in two literals: a query plan printed in any other error must not contain it
        head, tail = STOPPED.split(" ", 1)
        value = F.when(part < epochs.partitions, value).otherwise(F.raise_error(F.concat(
            F.lit(f"{head} "), F.lit(f"{tail} topic {epochs.topic} has partition "), part.cast("string"),
            F.lit(f", but the lake recorded {epochs.partitions} partitions for it. "
                  "Partitions were added while the stream ran; restart it after `pinterest topic grow`."))))
    return value



# --------------------------------------------------------------------------- the lake record


def epochs_path(entity: str, topic: str) -> str:
    return f"{LAYOUT.partition_epochs(entity)}/{topic}.json"


def load_epochs(lake: LakeResource, entity: str, topic: str) -> Epochs | None:
    path = epochs_path(entity, topic)
    if not lake.exists(path):
        return None
    try:
        return Epochs.from_json(lake.read_text(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise PartitionCountChanged(f"unreadable partition record {lake.uri_of(path)}: {exc}") from exc


def write_epochs(lake: LakeResource, entity: str, epochs: Epochs) -> None:
    lake.write_text(epochs_path(entity, epochs.topic), epochs.to_json())


def count_changed_message(entity: str, topic: str, recorded: int, now: int, what: str) -> str:
    return (f"{STOPPED} topic {topic} has {now} partitions, but the lake recorded {recorded} for it. "
            "Added partitions send keys to other partitions, so newest-wins would keep older versions "
            f"of the keys that moved; {what}. Grow a topic only with `{GROW_COMMAND.format(entity=entity)}` "
            "(stop the API first); if partitions were added some other way and nothing was produced "
            f"since, `pinterest topic grow {entity} --partitions {now}` adopts them.")


def checked_epochs(lake: LakeResource, entity: str, topic: str, partitions: int, what: str) -> Epochs:
    """The topic's epochs; fails when Kafka's partition count is not the recorded one (records the
    count when the topic has no record yet)."""
    epochs = load_epochs(lake, entity, topic)
    if epochs is None:
        epochs = Epochs(topic, partitions)
        write_epochs(lake, entity, epochs)
    elif epochs.partitions != partitions:
        raise PartitionCountChanged(count_changed_message(entity, topic, epochs.partitions, partitions, what))
    elif not epochs.confirmed:
        raise PartitionCountChanged(
            f"{STOPPED} the grow of {topic} to {epochs.partitions} partitions was not confirmed (it was "
            f"interrupted, or a producer wrote while it ran); {what}. Run `pinterest topic grow {entity} "
            f"--partitions {epochs.partitions}` again with the API stopped.")
    return epochs


# --------------------------------------------------------------------------- growing a topic


class GrowRefused(dg.Failure):
    """The topic cannot be grown safely now."""


def stable_end_offsets(kafka, topic: str, quiet_s: float) -> dict[int, int]:
    """The topic's end offsets, read twice `quiet_s` apart; fails when they moved (producers running)."""
    first = {p: end for (_, p), end in kafka.end_offsets([topic]).items()}
    time.sleep(quiet_s)
    second = {p: end for (_, p), end in kafka.end_offsets([topic]).items()}
    if first != second:
        moved = sorted(p for p in second if first.get(p) != second[p])
        raise GrowRefused(
            f"topic {topic} is being written to (partitions {moved} moved within {quiet_s:.0f}s): "
            "stop the API (and any other producer) first, then grow; restart them afterwards.")
    return second


def grow_topic(kafka, lake: LakeResource, entity: str, partitions: int, quiet_s: float = 3.0,
               accept_writes_during_grow: bool = False) -> Epochs:
    """Record a boundary at the topic's end offsets, add partitions up to `partitions`, confirm.

    Producers must be stopped: the end offsets must not move for `quiet_s` before the partitions
    are added nor for `quiet_s` after (an idle API's producer would still use the old partition
    count until its metadata refresh, at most 2 s). The boundary is recorded unconfirmed first, so
    a crash or a write in between leaves the landing and the stream stopped, and running the
    command again completes it. Partitions added some other way are adopted while still empty.
    ``accept_writes_during_grow`` moves an unconfirmed boundary to the current end offsets: records
    written during the grow then count as the old epoch (right for a producer that still used the
    old count)."""
    topic = kafka.topic(entity)
    ends = stable_end_offsets(kafka, topic, quiet_s)
    if not ends:
        raise GrowRefused(f"topic {topic} does not exist on Kafka at {kafka.bootstrap_servers}")
    now = len(ends)
    recorded = load_epochs(lake, entity, topic) or Epochs(topic, now)
    if not recorded.confirmed:  # an earlier grow did not finish
        if partitions != recorded.partitions:
            raise GrowRefused(f"a grow of {topic} to {recorded.partitions} partitions was not confirmed: "
                              f"run `pinterest topic grow {entity} --partitions {recorded.partitions}` first")
        grown = recorded
        if accept_writes_during_grow:
            grown = Epochs(topic, partitions, (*recorded.boundaries[:-1], {
                p: ends.get(p, 0) if p < now else 0 for p in range(partitions)}), confirmed=False)
            write_epochs(lake, entity, grown)
    else:
        if partitions < now or (partitions == now == recorded.partitions) or recorded.partitions > now:
            raise GrowRefused(f"topic {topic} has {now} partitions (recorded: {recorded.partitions}): "
                              "--partitions must be more than that (Kafka cannot remove partitions)")
        written = sorted(p for p in range(recorded.partitions, now) if ends[p] > 0)
        if written:
            raise GrowRefused(
                f"partitions {written} of {topic} were added outside `pinterest topic grow` and already hold "
                "records, whose order against older versions of their keys is unknown: this command cannot "
                "adopt them. Recreate the topic and move the raw lake folder aside.")
        grown = Epochs(topic, partitions, (*recorded.boundaries, {p: ends.get(p, 0) for p in range(partitions)}),
                       confirmed=False)
        write_epochs(lake, entity, grown)
    _add_partitions(kafka, topic, partitions)
    after = stable_end_offsets(kafka, topic, quiet_s)
    boundary = grown.boundaries[-1]
    moved = {p: end for p, end in sorted(after.items()) if end != boundary.get(p, 0)}
    if moved:
        raise GrowRefused(
            f"a producer wrote to {topic} during the grow (partition -> end offset now: {moved}; recorded "
            f"boundary: {boundary}). Those records may use the old or the new partition count, so the "
            "landing and the stream stay stopped. Stop the API and every other producer, then run "
            f"`pinterest topic grow {entity} --partitions {partitions} --accept-writes-during-grow` to count "
            "them as the old epoch.")
    grown = Epochs(topic, partitions, grown.boundaries, confirmed=True)
    write_epochs(lake, entity, grown)
    return grown


def _add_partitions(kafka, topic: str, total: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewPartitions

    with kafka.consumer() as consumer:
        if len(kafka.partitions(consumer, [topic])) >= total:
            return
    admin = KafkaAdminClient(**kafka.client_options(), request_timeout_ms=kafka.request_timeout_ms)
    try:
        admin.create_partitions({topic: NewPartitions(total_count=total)})
    finally:
        admin.close()
