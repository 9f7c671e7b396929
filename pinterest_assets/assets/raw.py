"""raw_pin, raw_geo, raw_user: exactly-once landing of Kafka messages into the lake, by offset range.

Each file is ``<lake>/raw/<entity>/date=<UTC date of the Kafka timestamp>/
<topic>-<partition>-<first offset>-<last offset>.jsonl``, one JSON object per line: the message's
own fields plus ``_topic``, ``_partition``, ``_offset`` and ``_timestamp`` (ISO-8601 UTC). A message
that is not a JSON object lands in ``<lake>/quarantine/raw/<entity>/date=…/`` under the same kind
of name, with its offset, text and reason — never dropped.

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

from pinterest_assets.resources.kafka import KafkaResource, TopicPartitionKey, tp_label
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.settings import ENTITIES

OWNERS = ["team:data-engineering"]
GROUP = "pinterest"
RAW_FILE = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)-(?P<first>\d+)-(?P<last>\d+)\.jsonl$")
DEFAULT_MAX_RECORDS_PER_FILE = 50_000
LINEAGE_FIELDS = ("_topic", "_partition", "_offset", "_timestamp")


def raw_folder(entity: str) -> str:
    return f"raw/{entity}"


def quarantine_folder(entity: str) -> str:
    return f"quarantine/raw/{entity}"


def raw_date_folder(entity: str, date: str) -> str:
    return f"{raw_folder(entity)}/date={date}"


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


def parse_landed_file(relpath: str, quarantine: bool) -> LandedFile | None:
    parts = relpath.split("/")
    match = RAW_FILE.match(parts[-1])
    date_part = parts[-2] if len(parts) >= 2 else ""
    if not match or not date_part.startswith("date="):
        return None
    return LandedFile(relpath, match["topic"], int(match["partition"]), int(match["first"]),
                      int(match["last"]), date_part[len("date="):], quarantine)


def landed_files(lake: LakeResource, entity: str, date: str | None = None) -> list[LandedFile]:
    """Every landed raw and quarantine file of `entity` (of one date when given), in offset order."""
    found = []
    for folder, quarantine in ((raw_folder(entity), False), (quarantine_folder(entity), True)):
        if date is not None:
            folder = f"{folder}/date={date}"
        for relpath in lake.list_files(folder):
            landed = parse_landed_file(relpath, quarantine)
            if landed is not None:
                found.append(landed)
    return sorted(found, key=lambda f: (f.topic, f.partition, f.first))


def next_offsets(files: list[LandedFile]) -> dict[TopicPartitionKey, int]:
    """Per topic-partition, one after the highest landed offset: where landing resumes."""
    nxt: dict[TopicPartitionKey, int] = {}
    for f in files:
        key = (f.topic, f.partition)
        nxt[key] = max(nxt.get(key, 0), f.last + 1)
    return nxt


# --------------------------------------------------------------------------- one message


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def encode_message(msg) -> tuple[bool, str, str]:
    """(quarantined?, UTC date, JSON line) for one Kafka message."""
    ts_ms = msg.timestamp if msg.timestamp is not None and msg.timestamp >= 0 else int(time.time() * 1000)
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    lineage = {
        "_topic": msg.topic,
        "_partition": msg.partition,
        "_offset": msg.offset,
        "_timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    date = moment.date().isoformat()
    reason, text, obj = None, None, None
    if msg.value is None:
        reason = "empty_message"
    else:
        try:
            text = msg.value.decode("utf-8")
        except UnicodeDecodeError:
            reason = "not_utf8"
        else:
            try:
                obj = json.loads(text, strict=False, parse_constant=_reject_constant)
            except ValueError:
                reason = "not_json"
            else:
                if not isinstance(obj, dict):
                    reason = "not_a_json_object"
    if reason is not None:
        record = {**lineage, "reason": reason, "value": text}
        if text is None and msg.value is not None:
            record["value_base64"] = base64.b64encode(msg.value).decode("ascii")
        return True, date, json.dumps(record, ensure_ascii=False)
    merged = {**lineage, **{k: v for k, v in obj.items() if k not in lineage}}
    return False, date, json.dumps(merged, ensure_ascii=False)


# --------------------------------------------------------------------------- landing


@dataclass
class LandingReport:
    entity: str
    topic: str
    files: list[LandedFile] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)        # per topic-partition label
    quarantined: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, str] = field(default_factory=dict)
    next_offsets: dict[str, int] = field(default_factory=dict)
    lost_to_retention: dict[str, int] = field(default_factory=dict)

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def total_quarantined(self) -> int:
        return sum(self.quarantined.values())

    @property
    def dates(self) -> list[str]:
        return sorted({f.date for f in self.files})

    def metadata(self) -> dict:
        return {
            "topic": self.topic,
            "records_landed": self.total_records,
            "records_quarantined": self.total_quarantined,
            "files_written": len(self.files),
            "records_per_partition": dg.MetadataValue.json(self.records),
            "quarantined_per_partition": dg.MetadataValue.json(self.quarantined),
            "offset_ranges": dg.MetadataValue.json(self.ranges),
            "next_offsets": dg.MetadataValue.json(self.next_offsets),
            "dates_touched": dg.MetadataValue.json(self.dates),
            "lost_to_retention": dg.MetadataValue.json(self.lost_to_retention),
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
    max_records_per_file: int = DEFAULT_MAX_RECORDS_PER_FILE,
    stall_timeout_s: float = 120.0,
    log=None,
    on_file_written: Callable[[LandedFile], None] | None = None,
) -> LandingReport:
    """Land every message the entity's topic holds now (up to its end offsets) that the lake lacks."""
    from kafka import TopicPartition

    topic = kafka.topic(entity)
    report = LandingReport(entity=entity, topic=topic)
    with landing_lock(lake, entity), kafka.consumer() as consumer:
        resume = next_offsets([f for f in landed_files(lake, entity) if f.topic == topic])
        partitions = kafka.partitions(consumer, [topic])
        if not partitions:
            if log:
                log.warning(f"topic {topic} does not exist: nothing to land for {entity}")
            return report
        ends = consumer.end_offsets(partitions, timeout_ms=kafka.request_timeout_ms)
        begins = consumer.beginning_offsets(partitions, timeout_ms=kafka.request_timeout_ms)
        for tp in partitions:
            key, label = (tp.topic, tp.partition), tp_label((tp.topic, tp.partition))
            start, end = resume.get(key, 0), int(ends[tp])
            if start < begins[tp]:
                # retention deleted messages nobody landed: say so loudly, then carry on
                report.lost_to_retention[label] = int(begins[tp]) - start
                if log:
                    log.error(f"{label}: offsets {start}..{begins[tp] - 1} were deleted by retention "
                              "before they were landed")
                start = int(begins[tp])
            report.next_offsets[label] = max(start, end)
            if start >= end:
                continue
            written = _land_partition(consumer, lake, entity, TopicPartition(tp.topic, tp.partition),
                                      start, end, max_records_per_file, stall_timeout_s,
                                      report, on_file_written)
            if log and written:
                log.info(f"{label}: landed offsets {start}..{end - 1} in {len(written)} file(s)")
    return report


def _land_partition(consumer, lake, entity, tp, start, end, max_per_file, stall_timeout_s,
                    report: LandingReport, on_file_written) -> list[LandedFile]:
    label = tp_label((tp.topic, tp.partition))
    consumer.assign([tp])
    consumer.seek(tp, start)
    written: list[LandedFile] = []
    run: list[tuple[int, str]] = []  # (offset, line) of the file being built
    run_kind: tuple[bool, str] | None = None

    def flush():
        nonlocal run, run_kind
        if not run:
            return
        quarantined, date = run_kind
        first, last = run[0][0], run[-1][0]
        folder = quarantine_folder(entity) if quarantined else raw_folder(entity)
        relpath = f"{folder}/date={date}/{tp.topic}-{tp.partition}-{first}-{last}.jsonl"
        lake.write_text(relpath, "".join(line + "\n" for _, line in run))
        landed = LandedFile(relpath, tp.topic, tp.partition, first, last, date, quarantined)
        written.append(landed)
        report.files.append(landed)
        counter = report.quarantined if quarantined else report.records
        counter[label] = counter.get(label, 0) + len(run)
        previous = report.ranges.get(label)
        report.ranges[label] = f"{previous.split('-')[0] if previous else first}-{last}"
        run, run_kind = [], None
        if on_file_written is not None:
            on_file_written(landed)

    last_progress = time.monotonic()
    while consumer.position(tp) < end:
        batch = consumer.poll(timeout_ms=1000, max_records=min(max_per_file, 5000))
        messages = batch.get(tp, [])
        if not messages:
            if time.monotonic() - last_progress > stall_timeout_s:
                raise dg.Failure(
                    f"{label}: no messages fetched for {stall_timeout_s:.0f}s at offset "
                    f"{consumer.position(tp)} (target {end}); is the broker healthy?"
                )
            continue
        last_progress = time.monotonic()
        for msg in messages:
            if msg.offset >= end:
                break
            quarantined, date, line = encode_message(msg)
            if run and (run_kind != (quarantined, date) or len(run) >= max_per_file):
                flush()
            run_kind = (quarantined, date)
            run.append((msg.offset, line))
    flush()
    return written


# --------------------------------------------------------------------------- the assets


def build_raw_asset(entity: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{entity}",
        group_name=GROUP,
        kinds={"kafka", "json"},
        owners=OWNERS,
        description=(
            f"Every `{entity}` event from Kafka, landed once as JSON lines in "
            f"`<lake>/raw/{entity}/date=<UTC day>/<topic>-<partition>-<first>-<last>.jsonl` "
            "(append-only, exactly-once by offset range; non-JSON-object messages go to "
            f"`<lake>/quarantine/raw/{entity}/`)."
        ),
        metadata={"lake_folder": f"raw/{entity}", "key": "offset range per topic-partition"},
    )
    def _raw(context: dg.AssetExecutionContext, kafka: KafkaResource, lake: LakeResource) -> dg.MaterializeResult:
        report = land_topic(kafka, lake, entity, log=context.log)
        return dg.MaterializeResult(metadata=report.metadata())

    return _raw


raw_pin = build_raw_asset("pin")
raw_geo = build_raw_asset("geo")
raw_user = build_raw_asset("user")
RAW_ASSETS = [raw_pin, raw_geo, raw_user]
RAW_ASSET_BY_ENTITY = dict(zip(ENTITIES, RAW_ASSETS, strict=True))
