"""The posting emulator: samples rows with replacement and posts each one's pin, geo and user record.

Like the original project's emulator, one *event* is one sampled `ind`: its pin, geo and user
records are posted in that order. Unlike it, nothing is dropped silently: a 503 or a connection
error is retried with exponential backoff and full jitter until a deadline, after which the record
counts as failed. The report accounts for every record (sent = accepted + rejected + failed) and
lists every accepted (topic, key, partition, offset), so reconciliation can compare with Kafka.
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

ENTITIES = ("pin", "geo", "user")
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


class DatasetError(ValueError):
    """A user dataset that cannot be read; the message names the file and line."""


# ---------------------------------------------------------------------------------- datasets
def _ind_of(entity: str, row: dict, where: str):
    raw = row.get("index" if entity == "pin" else "ind")
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
    dataset: dict[str, dict] = {e: {} for e in ENTITIES}
    found = False
    for path in sorted(folder.iterdir()):
        entity = next((e for e in ENTITIES if path.name.lower().startswith(e)), None)
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
    if not found or not dataset["pin"]:
        raise DatasetError(f"{folder}: no pin rows found (expected pin*.jsonl or pin*.csv, "
                           "with geo*/user* files next to it)")
    return dataset


def generated_dataset(seed: int) -> dict[str, dict]:
    from pinterest_assets.ingest import datagen

    data = datagen.generate(seed=seed)
    return {"pin": {r["index"]: r for r in data["pin"]},
            "geo": {r["ind"]: r for r in data["geo"]},
            "user": {r["ind"]: r for r in data["user"]}}


# ---------------------------------------------------------------------------------- the report
@dataclass
class Report:
    events: int = 0
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

    def post(self, entity: str, record: dict) -> None:
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
                                                        "partition": ack["partition"], "offset": ack["offset"]})
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


def run(config: EmulatorConfig, rows: dict[str, dict] | None = None, progress: bool = False) -> Report:
    """Post events until count/duration/interrupt; return the report."""
    rows = rows if rows is not None else generated_dataset(config.seed)
    keys = sorted(rows["pin"], key=str)
    sampler = random.Random(config.seed)
    report = Report()
    stop = threading.Event()
    poster = _Poster(config, report, stop)
    issue_lock = threading.Lock()
    issued = 0
    start = time.monotonic()
    end = start + config.duration if config.duration is not None else None

    def next_event():
        nonlocal issued
        with issue_lock:
            if stop.is_set() or (config.count is not None and issued >= config.count):
                return None
            slot = start + issued / config.rate if config.rate else None
            if end is not None and (time.monotonic() >= end or (slot is not None and slot >= end)):
                return None
            issued += 1
            return sampler.choice(keys), slot

    def worker():
        while (item := next_event()) is not None:
            ind, slot = item
            if slot is not None and (wait := slot - time.monotonic()) > 0 and stop.wait(wait):
                return
            with report.lock:
                report.events += 1
            for entity in ENTITIES:
                record = rows[entity].get(ind)
                if record is not None:
                    poster.post(entity, record)

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
        task = bar.add_task("emulate", total=config.count, stats="")
        while any(t.is_alive() for t in threads):
            threads[0].join(0.25) if threads[0].is_alive() else time.sleep(0.25)
            with report.lock:
                rate = report.sent / report.elapsed if report.elapsed else 0.0
                stats = (f"{rate:,.0f} rec/s  accepted {sum(report.accepted.values()):,}  "
                         f"rejected {sum(report.rejected.values()):,}  retried {report.retried:,}  "
                         f"failed {report.failed:,}")
                bar.update(task, completed=report.events, stats=stats)
        bar.update(task, completed=report.events)
