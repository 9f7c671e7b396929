"""The posting emulator: samples rows with replacement and posts each one's pin, geo and user record.

Like the original project's emulator, one *event* is one sampled `ind`: its pin, geo and user
records are posted in that order. Unlike it, nothing is dropped silently: a 503 or a connection
error is retried with exponential backoff and full jitter until a deadline, after which the record
counts as failed. The report accounts for every record (sent = accepted + rejected + failed) and
lists every accepted (topic, key, partition, offset), so reconciliation can compare with Kafka.

With ``updates`` > 0 the emulator also posts that many *new versions* of keys it already posted
(interleaved with the sampled events): the pin gets a changed title and follower_count, the geo
record a changed country, the user a changed age, so the newest version of a key differs from the
older ones and a lost or stale update is visible downstream. Every accepted record carries its
``version`` (0 = the dataset row, n = the key's n-th update).
"""

from __future__ import annotations

import csv
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pinterest_assets import entities as registry

RETRYABLE = {429, 502, 503, 504}


@dataclass
class EmulatorConfig:
    url: str = "http://127.0.0.1:8000"
    rate: float | None = None        # events/s; None = as fast as the API answers
    count: int | None = None         # events; None with duration None = until interrupted
    duration: float | None = None    # seconds
    concurrency: int = 8
    seed: int = 11_154
    retry_deadline: float = 30.0     # seconds per record
    timeout: float = 10.0            # seconds per HTTP request
    api_key: str | None = None
    backoff_base: float = 0.1
    backoff_cap: float = 5.0
    updates: int = 0                 # extra versions of already-posted keys, interleaved


class DatasetError(ValueError):
    """A user dataset that cannot be read; the message names the file and line."""


# ---------------------------------------------------------------------------------- datasets
def _ind_of(entity: str, row: dict, where: str):
    raw = row.get(registry.entity(entity).row_id_field)
    try:
        return int(str(raw).strip())
    except ValueError:
        return f"{where}"  # unkeyed rows stay postable (the API will answer 422 for them)


def _read_rows(path: Path) -> list[tuple[str, dict]]:
    rows = []
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                rows.append((f"{path}:{number}", row))
        return rows
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append((f"{path}:{number}", json.loads(line)))
            except ValueError as exc:
                raise DatasetError(f"{path}, line {number}: not a JSON object ({exc})") from None
    return rows


def load_dataset(folder: Path) -> dict[str, dict]:
    """Rows of a user's folder, by entity then `ind`: files named pin*/geo*/user* .jsonl or .csv."""
    folder = Path(folder)
    dataset: dict[str, dict] = {e: {} for e in registry.names()}
    found = False
    for path in sorted(folder.iterdir()):
        entity = next((e for e in registry.names() if path.name.lower().startswith(e)), None)
        if entity is None or path.suffix.lower() not in (".jsonl", ".json", ".csv"):
            continue
        found = True
        try:
            for where, row in _read_rows(path):
                if not isinstance(row, dict):
                    raise DatasetError(f"{where}: a record must be a JSON object")
                dataset[entity][_ind_of(entity, row, where)] = row
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc})") from None
    lead = registry.lead().name
    if not found or not dataset[lead]:
        others = "/".join(f"{e}*" for e in registry.names() if e != lead)
        raise DatasetError(f"{folder}: no {lead} rows found (expected {lead}*.jsonl or {lead}*.csv, "
                           f"with {others} files next to it)")
    return dataset


def generated_dataset(seed: int) -> dict[str, dict]:
    from pinterest_ingest import datagen

    data = datagen.generate(seed=seed)
    return {name: {r[registry.entity(name).row_id_field]: r for r in rows} for name, rows in data.items()}


# ---------------------------------------------------------------------------------- the report
@dataclass
class Report:
    events: int = 0
    updates: int = 0                                     # update events (new versions of a posted key)
    sent: int = 0
    accepted: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)   # "422 invalid_record" -> n
    retried: int = 0
    failed: int = 0
    failures: Counter = field(default_factory=Counter)   # last error of each failed record
    accepted_records: list = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def summary(self) -> dict:
        accepted_total = sum(self.accepted.values())
        return {
            "events": self.events,
            "updates": self.updates,
            "sent": self.sent,
            "accepted": dict(sorted(self.accepted.items())),
            "accepted_total": accepted_total,
            "rejected": dict(sorted(self.rejected.items())),
            "retried": self.retried,
            "failed": self.failed,
            "failures": dict(sorted(self.failures.items())),
            "accounted": accepted_total + sum(self.rejected.values()) + self.failed == self.sent,
            "elapsed_s": round(self.elapsed, 3),
            "records_per_s": round(self.sent / self.elapsed, 1) if self.elapsed else None,
        }

    def to_dict(self) -> dict:
        return {**self.summary(), "accepted_records": self.accepted_records}


# ---------------------------------------------------------------------------------- posting
class _Poster:
    def __init__(self, config: EmulatorConfig, report: Report, stop: threading.Event):
        import httpx

        self.config, self.report, self.stop = config, report, stop
        self.rng = random.Random(f"jitter-{config.seed}")
        headers = {"content-type": "application/json"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
        self.client = httpx.Client(base_url=config.url, headers=headers, timeout=config.timeout, limits=limits)

    def close(self) -> None:
        self.client.close()

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        ceiling = min(self.config.backoff_cap, self.config.backoff_base * 2 ** attempt)
        delay = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), self.config.backoff_cap) * self.rng.uniform(1.0, 1.2))
        return delay

    def post(self, entity: str, record: dict, version: int = 0) -> None:
        import httpx

        report = self.report
        body = json.dumps(record, ensure_ascii=False).encode("utf-8")
        with report.lock:
            report.sent += 1
        deadline = time.monotonic() + self.config.retry_deadline
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self.client.post(f"/{entity}/", content=body)
            except httpx.TransportError as exc:
                reason = f"connection error: {type(exc).__name__}"
            else:
                status = response.status_code
                if status == 202:
                    ack = response.json()
                    with report.lock:
                        report.accepted[ack["topic"]] += 1
                        report.accepted_records.append({"topic": ack["topic"], "key": ack["key"],
                                                        "partition": ack["partition"], "offset": ack["offset"],
                                                        "version": version})
                    return
                try:
                    error = response.json().get("error", "")
                except ValueError:
                    error = ""
                reason = f"{status} {error}".strip()
                if status not in RETRYABLE:
                    with report.lock:
                        report.rejected[reason] += 1
                    return
                retry_after = response.headers.get("retry-after")
            delay = self._backoff(attempt, retry_after)
            if self.stop.is_set() or time.monotonic() + delay > deadline:
                with report.lock:
                    report.failed += 1
                    report.failures["interrupted" if self.stop.is_set() else reason] += 1
                return
            with report.lock:
                report.retried += 1
            attempt += 1
            self.stop.wait(delay)


# ---------------------------------------------------------------------------------- updates
_COUNTRIES: list[str] = []


def _countries() -> list[str]:
    if not _COUNTRIES:
        from faker.providers.address.en_US import Provider as Address

        _COUNTRIES.extend(sorted(Address.countries))
    return _COUNTRIES


def _differs(rng: random.Random, make, current):
    """A value from `make()` that differs from `current` (as text, so 42 and "42" are the same)."""
    for _ in range(100):
        value = make()
        if str(value).strip() != str(current).strip():
            return value
    raise RuntimeError(f"could not draw a value different from {current!r}")  # pragma: no cover


def _new_title(rng: random.Random, record: dict, version: int):
    title = str(record.get("title") or "").split(" (update ", 1)[0]
    return f"{title} (update {version})".strip()


# raw field -> its next value in an update (Entity.updated_fields names which fields an update changes);
# each differs from the current value in a way the cleaning keeps distinct
UPDATE_RULES = {
    "title": _new_title,
    "follower_count": lambda rng, record, version: _differs(rng, lambda: f"{rng.randint(1, 999)}k",
                                                            record.get("follower_count")),
    "country": lambda rng, record, version: _differs(rng, lambda: rng.choice(_countries()), record.get("country")),
    "age": lambda rng, record, version: _differs(rng, lambda: rng.randint(20, 60), record.get("age")),
}


def next_version(records: dict[str, dict], version: int, rng: random.Random) -> dict[str, dict]:
    """New records of one key: every field as in `records` (its current version) except each
    entity's `updated_fields`, drawn by :data:`UPDATE_RULES`."""
    changed: dict[str, dict] = {}
    for entity, record in records.items():
        record = dict(record)
        for name in registry.entity(entity).updated_fields:
            record[name] = UPDATE_RULES[name](rng, record, version)
        changed[entity] = record
    return changed


class _Updates:
    """Which slots are updates, which posted key each one updates, and each key's current version.

    With a --count, the update slots are drawn (seeded) among slots 1..count+updates-1; without one,
    every other slot after the first is an update until all are issued. An update picks (seeded) a
    key whose event was already posted, waiting for the first one if none has finished yet.
    """

    def __init__(self, config: EmulatorConfig, rows: dict[str, dict]):
        self.remaining = config.updates
        self.seed = config.seed
        self.rng = random.Random(f"updates-{config.seed}")
        self.positions: set[int] | None = None
        if config.count is not None and config.updates:
            self.positions = set(self.rng.sample(range(1, config.count + config.updates), config.updates))
        self.rows = rows
        self.current: dict = {}          # ind -> {entity: record} (the newest version posted)
        self.versions: Counter = Counter()
        self.posted: list = []           # inds whose event finished posting, in order
        self.condition = threading.Condition()

    def is_update(self, slot: int) -> bool:
        if self.positions is not None:
            return slot in self.positions
        return self.remaining > 0 and slot % 2 == 1

    def done(self, ind) -> None:
        with self.condition:
            self.posted.append(ind)
            self.condition.notify_all()

    def take(self, stop: threading.Event):
        """(ind, version, records) of the next update; None when stopped before any key was posted."""
        with self.condition:
            while not self.posted:
                if stop.is_set():
                    return None
                self.condition.wait(0.2)
            ind = self.rng.choice(self.posted)
            base = self.current.get(ind) or {e: self.rows[e][ind] for e in self.rows if ind in self.rows[e]}
            version = self.versions[ind] + 1
            records = next_version(base, version, random.Random(f"update-{self.seed}-{ind}-{version}"))
            self.versions[ind] = version
            self.current[ind] = records
            return ind, version, records


def run(config: EmulatorConfig, rows: dict[str, dict] | None = None, progress: bool = False) -> Report:
    """Post events (and `config.updates` new versions of posted keys) until count/duration/interrupt."""
    rows = rows if rows is not None else generated_dataset(config.seed)
    keys = sorted(rows[registry.lead().name], key=str)
    if config.updates and config.count == 0:
        raise ValueError("updates need at least one event to update: give a count of at least 1")
    sampler = random.Random(config.seed)
    updates = _Updates(config, rows)
    report = Report()
    stop = threading.Event()
    poster = _Poster(config, report, stop)
    issue_lock = threading.Lock()
    issued = 0
    start = time.monotonic()
    end = start + config.duration if config.duration is not None else None
    total = None if config.count is None else config.count + config.updates

    def next_event():
        nonlocal issued
        with issue_lock:
            if stop.is_set() or (total is not None and issued >= total):
                return None
            slot = start + issued / config.rate if config.rate else None
            if end is not None and (time.monotonic() >= end or (slot is not None and slot >= end)):
                return None
            is_update = updates.is_update(issued)
            issued += 1
            if is_update:
                updates.remaining -= 1
                return None, slot
            return sampler.choice(keys), slot

    def worker():
        while (item := next_event()) is not None:
            ind, slot = item
            if slot is not None and (wait := slot - time.monotonic()) > 0 and stop.wait(wait):
                return
            if ind is None:  # an update of a key already posted
                taken = updates.take(stop)
                if taken is None:
                    return
                ind, version, records = taken
                with report.lock:
                    report.updates += 1
                for entity in registry.names():
                    if entity in records:
                        poster.post(entity, records[entity], version)
                continue
            with report.lock:
                report.events += 1
            for entity in registry.names():
                record = rows[entity].get(ind)
                if record is not None:
                    poster.post(entity, record)
            updates.done(ind)

    threads = [threading.Thread(target=worker, name=f"emulate-{i}", daemon=True)
               for i in range(config.concurrency)]
    for thread in threads:
        thread.start()
    try:
        _watch(threads, report, config, progress)
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        report.finished = time.monotonic()
        poster.close()
    return report


def _watch(threads, report: Report, config: EmulatorConfig, progress: bool) -> None:
    if not progress:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]emulate[/]"), BarColumn(), TextColumn("{task.completed} events"),
                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), transient=False) as bar:
        total = None if config.count is None else config.count + config.updates
        task = bar.add_task("emulate", total=total, stats="")
        while any(t.is_alive() for t in threads):
            threads[0].join(0.25) if threads[0].is_alive() else time.sleep(0.25)
            with report.lock:
                rate = report.sent / report.elapsed if report.elapsed else 0.0
                stats = (f"{rate:,.0f} rec/s  accepted {sum(report.accepted.values()):,}  "
                         f"rejected {sum(report.rejected.values()):,}  retried {report.retried:,}  "
                         f"failed {report.failed:,}")
                bar.update(task, completed=report.events + report.updates, stats=stats)
        bar.update(task, completed=report.events + report.updates)
