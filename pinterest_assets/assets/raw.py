"""raw_pin, raw_geo, raw_user: exactly-once landing of Kafka messages into the lake, by offset range.

Each file is ``<lake>/raw/<entity>/date=<UTC date of the Kafka timestamp>/
<topic>-<partition>-<first offset>-<last offset>.<bytes>b.jsonl`` (paths: ``LakeLayout``), one JSON object
per line: the message's own fields plus ``_topic``, ``_partition``, ``_offset`` and ``_timestamp``
(ISO-8601 UTC). Any message that cannot land as a clean JSON object — whatever its bytes: not
UTF-8, not JSON, not an object, nested too deep, a lone surrogate, a timestamp outside the
calendar — lands in the quarantine folder under the same kind of name, with its offset, its raw
bytes (base64) and a reason. No message can block the landing.

Why this is exactly-once without any commit in Kafka:

- the lake is the only record of progress: the next start of a partition is one after the highest
  last offset found by listing both folders (no offset store that could disagree with the files);
- files are written in offset order, each covering a contiguous run of offsets (a new file starts
  when the date, the raw/quarantine kind or the size limit changes), so the files present after a
  crash at any point are always a prefix of the partition: resuming after the highest offset
  neither skips nor repeats;
- each file appears atomically (temp name + rename on file://, one PUT on S3), so a crash
  never leaves half a file; and a per-entity lock keeps two landings of the same topic on one
  machine from racing.

Nothing is skipped silently. Before reading, the landing checks the lake against Kafka and fails,
saying what happened and what to do, when:

- a partition's landed history does not start at offset 0 (or at an accepted loss from 0), or
  its ranges have a gap or overlap (a deleted or foreign file);
- a file in the entity's raw or quarantine folders is not one a landing wrote: a name no landing
  writes, another topic's file, or a size that differs from the one in its name (truncated);
- the lake is ahead of Kafka, or the topic's id changed (the topic was recreated);
- the topic's partition count is not the one recorded for it (partitions added outside
  ``pinterest topic grow``: see :mod:`pinterest_assets.ordering`);
- retention deleted offsets that were never landed;
- the topic does not exist.

An operator can go past a gap or a retention loss knowingly with the run config
``accept_loss: true``: the skipped ranges are recorded in the lake
(``raw/<entity>/_accepted_loss/``), in the materialization metadata and in the blocking asset
check ``no_unaccepted_loss``.
"""


import base64
import fcntl
import json
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from pinterest_assets import entities as registry
from pinterest_assets.messages import parse_message
from pinterest_assets.ordering import checked_epochs
from pinterest_assets.partitions import untaken_reason
from pinterest_assets.resources.kafka import KafkaResource, TopicPartitionKey, tp_label
from pinterest_assets.resources.lake import LAYOUT, LakeResource

RAW_FILE = re.compile(
    r"^(?P<topic>.+)-(?P<partition>\d+)-(?P<first>\d+)-(?P<last>\d+)(?:\.(?P<size>\d+)b)?\.jsonl$")
DEFAULT_MAX_RECORDS_PER_FILE = 50_000
LOSS_CHECK = "no_unaccepted_loss"


@dataclass(frozen=True)
class LandedFile:
    """One landed file, known from its name alone."""

    relpath: str
    topic: str
    partition: int
    first: int
    last: int
    date: str
    quarantine: bool
    size: int | None = None  # bytes, from the name (files landed before sizes were named: None)


def parse_landed_file(relpath: str, quarantine: bool) -> LandedFile | None:
    parts = relpath.split("/")
    match = RAW_FILE.match(parts[-1])
    date_part = parts[-2] if len(parts) >= 2 else ""
    if not match or not date_part.startswith("date="):
        return None
    return LandedFile(relpath, match["topic"], int(match["partition"]), int(match["first"]),
                      int(match["last"]), date_part[len("date="):], quarantine,
                      int(match["size"]) if match["size"] else None)


def landed_files(lake: LakeResource, entity: str, date: str | None = None) -> list[LandedFile]:
    """Every landed raw and quarantine file of `entity` (of one date when given), in offset order."""
    found = []
    for folder, quarantine in ((LAYOUT.raw(entity, date), False), (LAYOUT.raw_quarantine(entity, date), True)):
        for relpath in lake.list_files(folder):
            landed = parse_landed_file(relpath, quarantine)
            if landed is not None:
                found.append(landed)
    return sorted(found, key=lambda f: (f.topic, f.partition, f.first))


def inspect_landed_files(lake: LakeResource, entity: str, topic: str) -> tuple[list[LandedFile], list[str]]:
    """(the topic's landed files in offset order, what else the entity's raw and quarantine folders
    hold): a name no landing writes, a file of another topic, a size other than the one its name
    says (truncated or changed), or a name without a size after the partition's first sized file
    (landings name sizes since that file). Sizes come from the listing; nothing is read."""
    files, foreign = [], []
    for folder, quarantine in ((LAYOUT.raw(entity), False), (LAYOUT.raw_quarantine(entity), True)):
        for relpath, size in sorted(lake.list_file_sizes(folder).items()):
            landed = parse_landed_file(relpath, quarantine)
            if landed is None:
                foreign.append(f"{lake.uri_of(relpath)} is not a file a landing writes")
            elif landed.topic != topic:
                foreign.append(f"{lake.uri_of(relpath)} is of topic {landed.topic}, but {entity} lands {topic}")
            elif landed.size is not None and landed.size != size:
                foreign.append(f"{lake.uri_of(relpath)} holds {size} bytes, its name says {landed.size} "
                               "(truncated or changed)")
            else:
                files.append(landed)
    sized_from: dict[int, int] = {}
    for f in files:
        if f.size is not None:
            sized_from[f.partition] = min(sized_from.get(f.partition, f.first), f.first)
    unsized = [f for f in files if f.size is None and f.first > sized_from.get(f.partition, f.first)]
    foreign += [f"{lake.uri_of(f.relpath)} has no size in its name, but partition {f.partition}'s files "
                f"have named their size since offset {sized_from[f.partition]}" for f in unsized]
    dropped = {f.relpath for f in unsized}
    kept = [f for f in files if f.relpath not in dropped]
    return sorted(kept, key=lambda f: (f.partition, f.first)), foreign


def next_offsets(files: list[LandedFile]) -> dict[TopicPartitionKey, int]:
    """Per topic-partition, one after the highest landed offset: where landing resumes."""
    nxt: dict[TopicPartitionKey, int] = {}
    for f in files:
        key = (f.topic, f.partition)
        nxt[key] = max(nxt.get(key, 0), f.last + 1)
    return nxt


# --------------------------------------------------------------------------- one message


def _moment(msg) -> tuple[datetime, str | None]:
    """The message's Kafka timestamp as a UTC datetime, and why the batch side does not take it
    (:func:`untaken_reason`, the rule ``pin_stream`` applies too); the epoch when it has no usable one."""
    reason = untaken_reason(msg.timestamp)
    if reason in (None, "timestamp_before_first_partition"):
        try:
            return datetime.fromtimestamp(msg.timestamp / 1000, UTC), reason
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.fromtimestamp(0, UTC), reason or "timestamp_out_of_range"


def quarantine_line(lineage: dict, reason: str, value: bytes | None) -> str:
    """A quarantine record that cannot fail to encode: ASCII-only JSON, the raw bytes in base64."""
    record = {**lineage, "reason": reason,
              "value_base64": None if value is None else base64.b64encode(value).decode("ascii")}
    return json.dumps(record, ensure_ascii=True)


# Characters JSON leaves unescaped but str.splitlines() (and some JSON-lines readers) break lines
# at: escaped, so one record is one line for every reader. The JSON value is the same.
_LINE_BREAKS_ESCAPED = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def encode_message(msg) -> tuple[bool, str, str]:
    """(quarantined?, UTC date, JSON line) for one Kafka message. Never raises."""
    try:
        moment, time_reason = _moment(msg)
        lineage = {
            "_topic": msg.topic,
            "_partition": msg.partition,
            "_offset": msg.offset,
            "_timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        date = moment.date().isoformat()
        obj, reason = parse_message(msg.value)  # the rule pin_stream applies too
        reason = time_reason or reason  # the stream rejects by the same rule first
        if reason is None:
            merged = {**lineage, **{k: v for k, v in obj.items() if k not in lineage}}
            line = json.dumps(merged, ensure_ascii=False).translate(_LINE_BREAKS_ESCAPED)
            line.encode("utf-8")  # parse_message refused lone surrogates; kept as a last guard
            return False, date, line
    except UnicodeEncodeError:
        reason = "lone_surrogate"
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, the message must land somewhere
        reason = f"unreadable: {type(exc).__name__}"
    if "lineage" not in locals():
        lineage = {"_topic": msg.topic, "_partition": msg.partition, "_offset": msg.offset,
                   "_timestamp": "1970-01-01T00:00:00.000Z"}
        date = "1970-01-01"
    return True, date, quarantine_line(lineage, reason, msg.value)


# --------------------------------------------------------------------------- what the lake must agree with


class LandingRefused(dg.Failure):
    """The lake and Kafka disagree in a way that landing must not paper over."""


@dataclass(frozen=True)
class Loss:
    """Offsets of one partition that will never be landed, and why."""

    topic: str
    partition: int
    first: int
    last: int
    reason: str  # "gap" | "retention"

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def describe(self) -> str:
        return f"{self.topic}/{self.partition} offsets {self.first}..{self.last} ({self.count}, {self.reason})"


def accepted_losses(lake: LakeResource, entity: str) -> list[Loss]:
    """Losses an operator accepted earlier (``raw/<entity>/_accepted_loss/*.json``)."""
    out = []
    for relpath in lake.list_files(LAYOUT.accepted_loss(entity)):
        try:
            data = json.loads(lake.read_text(relpath))
            out.append(Loss(data["topic"], int(data["partition"]), int(data["first"]), int(data["last"]),
                            data.get("reason", "gap")))
        except (ValueError, KeyError, TypeError) as exc:
            raise LandingRefused(f"unreadable accepted-loss record {lake.uri_of(relpath)}: {exc}") from exc
    return out


def record_loss(lake: LakeResource, entity: str, loss: Loss, run_id: str | None) -> None:
    relpath = f"{LAYOUT.accepted_loss(entity)}/{loss.topic}-{loss.partition}-{loss.first}-{loss.last}.json"
    lake.write_text(relpath, json.dumps({
        "topic": loss.topic, "partition": loss.partition, "first": loss.first, "last": loss.last,
        "reason": loss.reason, "run_id": run_id, "accepted_at": datetime.now(UTC).isoformat(),
    }))


def find_gaps(files: list[LandedFile], accepted: list[Loss]) -> tuple[list[Loss], list[str]]:
    """(gaps, overlaps) of each partition's landed history, accepted losses included: it must start
    at offset 0 (a first landing after retention starts with an accepted loss from 0) and have no
    hole between consecutive ranges."""
    covered = sorted([(f.topic, f.partition, f.first, f.last, f.relpath) for f in files]
                     + [(a.topic, a.partition, a.first, a.last, "<accepted loss>") for a in accepted])
    gaps, overlaps = [], []
    for prev, cur in zip([None, *covered], covered):
        if prev is None or (prev[0], prev[1]) != (cur[0], cur[1]):
            if cur[2] > 0:  # the head of the history is missing
                gaps.append(Loss(cur[0], cur[1], 0, cur[2] - 1, "gap"))
            continue
        if cur[2] > prev[3] + 1:
            gaps.append(Loss(cur[0], cur[1], prev[3] + 1, cur[2] - 1, "gap"))
        elif cur[2] <= prev[3]:
            overlaps.append(f"{cur[0]}/{cur[1]}: {prev[4]} and {cur[4]} both cover offset {cur[2]}")
    return gaps, overlaps


# --------------------------------------------------------------------------- landing


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


def _check_topic_id(lake: LakeResource, entity: str, topic: str, topic_id: str | None, has_files: bool) -> None:
    """Fail when the topic's id differs from the one the lake's files came from (topic recreated)."""
    if topic_id is None:
        return
    marker = f"{LAYOUT.topic_ids(entity)}/{topic}.json"
    if lake.exists(marker):
        known = json.loads(lake.read_text(marker)).get("topic_id")
        if known and known != topic_id:
            raise LandingRefused(
                f"topic {topic} was recreated: the lake's files came from topic id {known}, Kafka now "
                f"has {topic_id}. Its offsets restart, so landing would skip or overwrite data. "
                f"Move {lake.uri_of(LAYOUT.raw(entity))} (and its quarantine) aside or point "
                "PINTEREST_LAKE_URI at a new prefix, then land again.")
        return
    if has_files:
        # files from before topic ids were recorded: adopt the current id (nothing to compare)
        pass
    lake.write_text(marker, json.dumps({"topic": topic, "topic_id": topic_id}))


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

    Raises :class:`LandingRefused` when the lake and Kafka disagree (see the module docstring);
    with ``accept_loss`` a gap or a retention loss is recorded and landing goes past it.
    """
    topic = kafka.topic(entity)
    report = LandingReport(entity=entity, topic=topic)
    stall_timeout_s = stall_timeout_s if stall_timeout_s is not None else kafka.operation_timeout_s
    with landing_lock(lake, entity), kafka.consumer() as consumer:
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
        _check_topic_id(lake, entity, topic, held.topic_id, bool(files))
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


# --------------------------------------------------------------------------- the assets


def build_topic_spec(entity: str) -> dg.AssetSpec:
    """The Kafka topic as an external asset: upstream of raw_<entity> (and pin_stream)."""
    spec = registry.entity(entity)
    return dg.AssetSpec(
        key=spec.topic_asset,
        group_name=registry.GROUP,
        kinds={"kafka"},
        owners=registry.OWNERS,
        description=(f"Kafka topic `{spec.topic}`: raw {entity} events as the ingestion API produced "
                     f"them (key = normalised `{spec.key}`). Written outside Dagster."),
        metadata={"topic": spec.topic, "message_key": spec.key},
    )


class RawLandingConfig(dg.Config):
    """Run configuration of a raw_<entity> landing."""

    accept_loss: bool = Field(
        default=False,
        description="go past offsets that can no longer be landed (a gap in the lake, or Kafka "
        "retention deleted them) and record them as accepted loss; off: the landing fails instead")


def build_raw_asset(entity: str) -> dg.AssetsDefinition:
    spec = registry.entity(entity)

    @dg.asset(
        name=spec.raw_asset,
        group_name=registry.GROUP,
        deps=[spec.topic_asset],
        kinds={"json"},
        owners=registry.OWNERS,
        check_specs=[dg.AssetCheckSpec(
            LOSS_CHECK, asset=spec.raw_asset, blocking=True,
            description="no Kafka offset was skipped by this landing (accepted losses fail it, with their ranges)")],
        description=(
            f"Every `{entity}` event from Kafka, landed once as JSON lines in "
            f"`<lake>/{LAYOUT.raw(entity, '<UTC day>')}/<topic>-<partition>-<first>-<last>.jsonl` "
            "(append-only, exactly-once by offset range; messages that cannot land as a JSON object "
            f"go to `<lake>/{LAYOUT.raw_quarantine(entity)}/` with a reason). Fails on a gap, a "
            "recreated topic, retention loss or a missing topic unless `accept_loss` is set."
        ),
        metadata={"lake_folder": LAYOUT.raw(entity), "key": "offset range per topic-partition"},
    )
    def _raw(context: dg.AssetExecutionContext, config: RawLandingConfig, kafka: KafkaResource,
             lake: LakeResource):
        try:
            report = land_topic(kafka, lake, entity, accept_loss=config.accept_loss, log=context.log,
                                run_id=context.run_id)
        except LandingRefused as refused:
            yield dg.AssetCheckResult(check_name=LOSS_CHECK, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                      metadata={"refused": str(refused.description or refused)})
            raise
        yield dg.MaterializeResult(
            metadata=report.metadata(),
            check_results=[dg.AssetCheckResult(
                check_name=LOSS_CHECK,
                passed=not report.accepted_loss,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"skipped_ranges": dg.MetadataValue.json([x.describe() for x in report.accepted_loss]),
                          "offsets_skipped": sum(x.count for x in report.accepted_loss)},
            )],
        )

    return _raw


def build_topic_specs() -> list[dg.AssetSpec]:
    return [build_topic_spec(name) for name in registry.names()]


def build_raw_assets() -> list[dg.AssetsDefinition]:
    return [build_raw_asset(name) for name in registry.names()]
