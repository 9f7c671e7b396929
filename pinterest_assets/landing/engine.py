"""``land_topic``: every message the entity's topic holds now that the lake lacks, landed in offset order.

Invariant: the lake is the only record of progress, and the files present after a crash at any
point are a prefix of each partition (docs/decisions.md, "Raw landing exactly-once").
"""

import fcntl
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from pinterest_assets.landing.files import LandedFile, inspect_landed_files, next_offsets
from pinterest_assets.landing.history import (
    LandingRefused,
    Loss,
    accepted_losses,
    check_topic_id,
    find_gaps,
    record_loss,
)
from pinterest_assets.landing.message import encode_message
from pinterest_assets.ordering import checked_epochs
from pinterest_assets.resources.kafka import KafkaResource, tp_label
from pinterest_assets.resources.lake import LAYOUT, LakeResource

DEFAULT_MAX_RECORDS_PER_FILE = 50_000


@dataclass
class LandingReport:
    entity: str
    topic: str
    topic_id: str | None = None
    files: list[LandedFile] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)        # per topic-partition label
    quarantined: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, str] = field(default_factory=dict)
    next_offsets: dict[str, int] = field(default_factory=dict)
    accepted_loss: list[Loss] = field(default_factory=list)      # accepted in this run

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def total_quarantined(self) -> int:
        return sum(self.quarantined.values())

    @property
    def dates(self) -> list[str]:
        return sorted({f.date for f in self.files})

    @property
    def clean_dates(self) -> list[str]:
        """Days that got new (non-quarantined) records: the daily partitions to clean again."""
        return sorted({f.date for f in self.files if not f.quarantine})

    def metadata(self) -> dict:
        return {
            "topic": self.topic,
            "topic_id": self.topic_id or "",
            "records_landed": self.total_records,
            "records_quarantined": self.total_quarantined,
            "files_written": len(self.files),
            "records_per_partition": dg.MetadataValue.json(self.records),
            "quarantined_per_partition": dg.MetadataValue.json(self.quarantined),
            "offset_ranges": dg.MetadataValue.json(self.ranges),
            "next_offsets": dg.MetadataValue.json(self.next_offsets),
            "dates_touched": dg.MetadataValue.json(self.dates),
            "clean_dates_touched": dg.MetadataValue.json(self.clean_dates),
            "accepted_loss": dg.MetadataValue.json([loss.describe() for loss in self.accepted_loss]),
            "offsets_accepted_lost": sum(loss.count for loss in self.accepted_loss),
        }


@contextmanager
def landing_lock(lake: LakeResource, entity: str):
    """One landing per entity at a time on this machine (a second one waits, then finds less to do)."""
    with open(lake.local_lock_path(f"raw-{entity}"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def land_topic(
    kafka: KafkaResource,
    lake: LakeResource,
    entity: str,
    *,
    accept_loss: bool = False,
    max_records_per_file: int = DEFAULT_MAX_RECORDS_PER_FILE,
    stall_timeout_s: float | None = None,
    log=None,
    run_id: str | None = None,
    on_file_written: Callable[[LandedFile], None] | None = None,
) -> LandingReport:
    """Land every message the entity's topic holds now (up to its end offsets) that the lake lacks.

    Raises :class:`LandingRefused` when the lake and Kafka disagree (:mod:`pinterest_assets.landing.history`);
    with ``accept_loss`` a gap or a retention loss is recorded and landing goes past it.
    """
    topic = kafka.topic(entity)
    report = LandingReport(entity=entity, topic=topic)
    stall_timeout_s = stall_timeout_s if stall_timeout_s is not None else kafka.operation_timeout_s
    with landing_lock(lake, entity), kafka.consumer() as consumer:
        held, resume = _resume_offsets(kafka, consumer, lake, entity, topic, report, accept_loss, log, run_id)
        for partition, (begin, end) in sorted(held.ranges.items()):
            label = tp_label((topic, partition))
            start = max(resume.get((topic, partition), 0), begin)
            report.next_offsets[label] = max(start, end)
            if start >= end:
                continue
            written = _land_partition(kafka, consumer, lake, entity, topic, partition, start, end,
                                      max_records_per_file, stall_timeout_s, report, on_file_written)
            if log and written:
                log.info(f"{label}: landed offsets {start}..{end - 1} in {len(written)} file(s)")
    return report


def _resume_offsets(kafka: KafkaResource, consumer, lake: LakeResource, entity: str, topic: str,
                    report: LandingReport, accept_loss: bool, log, run_id: str | None):
    """(Kafka's offset ranges of the topic, where each partition resumes), after checking the lake's
    history against Kafka: :class:`LandingRefused` when they disagree (unless the loss is accepted)."""
    files, foreign = inspect_landed_files(lake, entity, topic)
    if foreign:
        raise LandingRefused(
            f"the lake's {entity} folders hold files no landing of {topic} wrote: " + "; ".join(foreign[:5])
            + f"{' …' if len(foreign) > 5 else ''}. Restore a changed file from a backup, or move it out of "
            f"{lake.uri_of(LAYOUT.raw(entity))} and {lake.uri_of(LAYOUT.raw_quarantine(entity))} (the "
            "next landing then names the offsets it held as a gap), then land again.")
    accepted = [a for a in accepted_losses(lake, entity) if a.topic == topic]
    held = kafka.offset_ranges(consumer, topic)
    if held is None:
        raise LandingRefused(
            f"topic {topic} does not exist on Kafka at {kafka.bootstrap_servers}: nothing can be "
            f"landed for {entity}. Create it (`pinterest stack up` creates the project's topics) "
            "or fix the KafkaResource topics / PINTEREST_KAFKA_BOOTSTRAP.")
    report.topic_id = held.topic_id
    check_topic_id(lake, entity, topic, held.topic_id, bool(files))
    checked_epochs(lake, entity, topic, len(held.ranges), "nothing was landed")

    gaps, overlaps = find_gaps(files, accepted)
    if overlaps:
        raise LandingRefused(
            f"landed files of {topic} overlap, so some offsets are in the lake twice: "
            + "; ".join(overlaps[:5]) + ". Remove the file that does not belong, then land again.")
    resume = next_offsets(files + [LandedFile("", a.topic, a.partition, a.first, a.last, "", True)
                                   for a in accepted])
    unknown = sorted({p for (t, p) in resume if t == topic} - set(held.ranges))
    if unknown:
        raise LandingRefused(
            f"the lake holds offsets of {topic} partition(s) {unknown} that Kafka does not have "
            "(the topic was recreated with fewer partitions?). Move the raw folder aside, then land again.")
    losses = list(gaps)
    for partition, (begin, end) in sorted(held.ranges.items()):
        start = resume.get((topic, partition), 0)
        if start > end:
            raise LandingRefused(
                f"the lake is ahead of Kafka for {topic}/{partition}: landed up to offset {start - 1}, "
                f"but the partition ends at {end}. The topic was recreated or truncated; its new "
                f"offsets would be skipped. Move {lake.uri_of(LAYOUT.raw(entity))} aside or point "
                "PINTEREST_LAKE_URI at a new prefix, then land again.")
        if start < begin:
            losses.append(Loss(topic, partition, start, begin - 1, "retention"))
    if losses and not accept_loss:
        raise LandingRefused(
            f"{entity}: offsets missing from the lake's history — "
            + "; ".join(loss.describe() for loss in losses[:10])
            + ". A gap means a landed file was deleted or moved, the first ones of a partition "
            "included (restore it from a backup); retention means Kafka deleted messages before "
            "they were landed. To go past them knowingly, rerun "
            f"with run config `ops: {{raw_{entity}: {{config: {{accept_loss: true}}}}}}`; the skipped "
            "ranges are then recorded in the lake and in the asset's metadata.")
    for loss in losses:
        record_loss(lake, entity, loss, run_id)
        report.accepted_loss.append(loss)
        if log:
            log.warning(f"accepted loss: {loss.describe()}")
    resume = next_offsets(files + [LandedFile("", loss.topic, loss.partition, loss.first, loss.last, "", True)
                                   for loss in [*accepted, *losses]])
    return held, resume


def _land_partition(kafka: KafkaResource, consumer, lake, entity, topic, partition, start, end, max_per_file,
                    stall_timeout_s, report: LandingReport, on_file_written) -> list[LandedFile]:
    from kafka import TopicPartition

    tp = TopicPartition(topic, partition)
    label = tp_label((topic, partition))
    consumer.assign([tp])
    consumer.seek(tp, start)
    written: list[LandedFile] = []
    run: list[tuple[int, str]] = []  # (offset, line) of the file being built
    run_kind: tuple[bool, str] | None = None
    run_first = start  # a file covers run_first..its last offset: ranges stay contiguous even
    # where the log has no message at an offset (transaction markers, compaction)

    def flush():
        nonlocal run, run_kind, run_first
        if not run:
            return
        quarantined, date = run_kind
        first, last = run_first, run[-1][0]
        text = "".join(line + "\n" for _, line in run)
        size = len(text.encode("utf-8"))
        relpath = LAYOUT.raw_file(entity, date, topic, partition, first, last, quarantined, size)
        lake.write_text(relpath, text)
        landed = LandedFile(relpath, topic, partition, first, last, date, quarantined, size)
        written.append(landed)
        report.files.append(landed)
        counter = report.quarantined if quarantined else report.records
        counter[label] = counter.get(label, 0) + len(run)
        previous = report.ranges.get(label)
        report.ranges[label] = f"{previous.split('-')[0] if previous else first}-{last}"
        run, run_kind, run_first = [], None, last + 1
        if on_file_written is not None:
            on_file_written(landed)

    def poll():
        return consumer.poll(timeout_ms=1000, max_records=min(max_per_file, 5000))

    position = start
    last_progress = time.monotonic()
    while position < end:
        messages = kafka.bounded(f"fetch {label}", poll, timeout_s=stall_timeout_s).get(tp, [])
        for msg in messages:
            if msg.offset >= end:
                break
            if msg.offset < position:
                continue  # already handled in this run
            quarantined, date, line = encode_message(msg)
            if run and (run_kind != (quarantined, date) or len(run) >= max_per_file):
                flush()
            run_kind = (quarantined, date)
            run.append((msg.offset, line))
            position = msg.offset + 1
        reached = kafka.bounded(f"position of {label}", lambda: consumer.position(tp))
        if reached is not None and reached > position:
            position = min(int(reached), end)  # past offsets that hold no message
            last_progress = time.monotonic()
        elif messages:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall_timeout_s:
            raise dg.Failure(
                f"{label}: Kafka at {kafka.bootstrap_servers} returned no messages for "
                f"{stall_timeout_s:.0f}s at offset {position} (target {end}); is the broker healthy? "
                "Nothing was skipped: the next landing resumes at that offset.")
    flush()
    return written
