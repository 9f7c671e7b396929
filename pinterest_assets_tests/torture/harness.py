"""The torture state machine: random schedules of posts, jobs, tampering and faults on the real stack.

Each schedule (one Hypothesis example) gets private topics, a private lake folder and a private
Postgres database on the session's servers, so ``pinterest.<entity>_table``, ``pinterest.pin_stream``
and the dbt staging views have their production names without touching anyone else's. After every
step the views are compared value by value with :class:`~.model.Model`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pinterest_assets_tests.torture import values as V
from pinterest_assets_tests.torture.model import FIRST_DAY, Model, diff_rows

ENTITIES = ("pin", "geo", "user")
KEY = {"pin": "unique_id", "geo": "ind", "user": "ind"}
DAYS = ("2025-03-01", "2025-03-02", "2026-01-01")
PARTITIONS = 2
STAGING_SCHEMA = "analytics_staging"  # dbt_project.yml: staging +schema, prefixed by the target's
STAGING = {  # view -> (entity, {view column: cleaned column})
    "stg_pins": ("pin", {"unique_id": "unique_id", "ind": "ind", "title": "title", "poster_name": "poster_name",
                         "follower_count": "follower_count", "is_image_or_video": "is_image_or_video",
                         "category": "category"}),
    "stg_geolocations": ("geo", {"ind": "ind", "located_at": "timestamp", "latitude": "latitude",
                                 "longitude": "longitude", "country": "country"}),
    "stg_users": ("user", {"ind": "ind", "user_name": "user_name", "age": "age", "date_joined": "date_joined"}),
}


class Violation(AssertionError):
    """A guarantee broke; the message lists every difference."""


@dataclass
class Stats:
    schedules: int = 0
    steps: int = 0
    faults: dict = field(default_factory=dict)
    violations: list = field(default_factory=list)

    def fault(self, name: str) -> None:
        self.faults[name] = self.faults.get(name, 0) + 1


@dataclass
class Env:
    """What the session gives every schedule: the stack, Spark, a Kafka admin and producers."""

    stack: object
    admin: object
    producer: object        # the API's partitioner (KeyPartitioner), acks=all
    direct: object          # a plain kafka-python producer, its default partitioner
    open_classes: frozenset
    stats: Stats
    seed: int | None = None

    def replay(self) -> str:
        return (f"make torture SEED={self.seed}" + (f" OPEN={','.join(sorted(self.open_classes))}"
                                                     if self.open_classes else ""))


def kafka_timestamp(day: str | None, when: str) -> int:
    import datetime as dt

    if day is None:  # before the first daily partition
        moment = dt.datetime.fromisoformat(FIRST_DAY).replace(tzinfo=dt.UTC) - dt.timedelta(milliseconds=1)
    else:
        base = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
        moment = base + {"start": dt.timedelta(0), "noon": dt.timedelta(hours=12),
                         "end": dt.timedelta(days=1) - dt.timedelta(milliseconds=1)}[when]
    return int(moment.timestamp() * 1000)


class Torture(RuleBasedStateMachine):
    env: Env  # set by make_machine

    def __init__(self):
        super().__init__()
        from kafka.admin import NewTopic

        from pinterest_assets.resources.kafka import KafkaResource
        from pinterest_assets.resources.lake import LakeResource
        from pinterest_assets.resources.postgres import PostgresResource

        env = self.env
        env.stats.schedules += 1
        self.run = uuid.uuid4().hex[:10]
        self.topics = {e: f"torture.{self.run}.{e}" for e in ENTITIES}
        env.admin.create_topics([NewTopic(name=t, num_partitions=PARTITIONS, replication_factor=1)
                                 for t in self.topics.values()], timeout_ms=30000)
        self.partitions = {e: PARTITIONS for e in ENTITIES}
        self.home = Path(tempfile.mkdtemp(prefix="torture-"))
        self.db = f"torture_{self.run}"
        with psycopg.connect(env.stack.postgres_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        base = psycopg.conninfo.conninfo_to_dict(env.stack.postgres_dsn)
        self.dsn = psycopg.conninfo.make_conninfo(**{**base, "dbname": self.db})
        if env.stack.postgres_dsn.startswith(("postgresql://", "postgres://")):
            head, _, _ = env.stack.postgres_dsn.rpartition("/")
            self.dsn = f"{head}/{self.db}"
        self.kafka = KafkaResource(bootstrap_servers=env.stack.kafka_bootstrap_servers, topics=self.topics)
        self.postgres = PostgresResource(dsn=self.dsn)
        self.use_lake(LakeResource(uri=(self.home / "lake").as_uri()))
        self.model = Model()
        self.keys = {"pin": [], "geo": [], "user": []}
        self.dbt_done = False
        self.grown: set[str] = set()   # entities whose topic gained partitions
        self.blocked: set[str] = set()  # grown entities whose runs refused loudly (allowed)
        self.log: list[str] = []
        self.clock = time.monotonic()
        self.landed = False  # some landing ran (so the lake has raw files to tamper with)

    # ------------------------------------------------------------------ helpers

    def use_lake(self, lake) -> None:
        from pinterest_assets.io_managers.lake import LakeTableIOManager
        from pinterest_assets.io_managers.postgres import PostgresIOManager
        from pinterest_assets.resources.spark_resource import SparkResource

        spark = SparkResource()
        self.lake = lake
        self.resources = {
            "kafka": self.kafka, "lake": lake, "pyspark": spark, "postgres": self.postgres,
            "lake_io_manager": LakeTableIOManager(lake=lake, pyspark=spark),
            "postgres_io_manager": PostgresIOManager(postgres=self.postgres, pyspark=spark),
        }

    def note(self, text: str) -> None:
        now = time.monotonic()
        self.log.append(f"{text} [{now - self.clock:.0f}s]")
        self.clock = now
        self.env.stats.steps += 1

    def violation(self, text: str) -> None:
        self.env.stats.violations.append({"seed": self.env.seed, "violation": text[:2000]})
        raise Violation(f"{text}\nreplay: {self.env.replay()}\nsteps so far: {self.log}")

    def allowed(self, cls) -> bool:
        return all(c not in V.OPEN_CLASSES or c in self.env.open_classes for c in cls)

    def draw_record(self, data, entity: str):
        """(raw dict, key, expected row or None, classes)."""
        while True:
            fields = data.draw(V.FIELDS[entity]())
            classes = {v.cls for v in fields.values()}
            if self.allowed(classes):
                break
        keys = self.keys[entity]
        if keys and data.draw(st.booleans(), label="existing key"):
            key = data.draw(st.sampled_from(keys), label="key")
        elif entity == "pin":
            key = V.new_pin_key(data.draw(st.integers(0, 2**122 - 1), label="uuid bits"))
            keys.append(key)
        else:
            key = data.draw(st.integers(-5, 10**6), label="ind")
            keys.append(key)
        raw, row = {}, {}
        if entity == "pin":
            ind = data.draw(st.integers(-3, 10**9), label="index")
            raw["index"] = data.draw(V.ind_value(ind)).raw
            raw["unique_id"] = data.draw(st.sampled_from(
                [key, key.upper(), f" {key}\t", f"\u00a0{key.upper()}\u200b"]), label="raw key")
            row.update(ind=ind, unique_id=key)
        else:
            raw["ind"] = data.draw(V.ind_value(key)).raw
            row["ind"] = key
        for name, value in fields.items():
            if value.raw is not V.OMIT:
                raw[name] = value.raw
            if name in V.COLUMNS[entity]:
                row[name] = value.expected
        return raw, key, row, classes

    def send(self, entity: str, items: list[tuple[bytes | None, bytes, int]], direct: bool):
        producer = self.env.direct if direct else self.env.producer
        futures = [producer.send(self.topics[entity], key=k, value=v, timestamp_ms=ts) for k, v, ts in items]
        producer.flush()
        return [f.get(timeout=30) for f in futures]

    def materialize(self, assets, partition_key=None, run_config=None):
        import dagster as dg

        return dg.materialize(assets, resources=self.resources, partition_key=partition_key,
                              run_config=run_config, raise_on_error=False)

    def failure_text(self, result) -> str:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                return event.step_key + ": " + str(event.event_specific_data.error.message)[:1500]
        return "(no step failure event)"

    # ------------------------------------------------------------------ rules: data

    @initialize(data=st.data(), scheme=st.sampled_from(["file", "s3a"]))
    def first_posts(self, data, scheme):
        """The lake's scheme (a local folder, or s3a on the stack's S3 server), then a few events of
        each entity (Hypothesis's first, simplest schedule repeats one rule: this makes it
        exercise the jobs too)."""
        if scheme == "s3a":
            from pinterest_assets.resources.lake import LakeResource

            stack = self.env.stack
            self.use_lake(LakeResource(uri=f"s3a://{stack.s3_bucket}/torture/{self.run}",
                                       s3_endpoint_url=stack.s3_endpoint_url))
        self.note(f"lake {self.lake.uri}")
        for entity in ENTITIES:
            self.post(data, entity, 3, False, "noon")

    @rule(data=st.data(), entity=st.sampled_from(ENTITIES), count=st.integers(1, 6),
          direct=st.booleans(), when=st.sampled_from(["noon", "noon", "start", "end"]))
    def post(self, data, entity, count, direct, when):
        """Posts of new and existing keys (through the API's partitioner, or straight to Kafka)."""
        items, meta = [], []
        for _ in range(count):
            raw, key, row, classes = self.draw_record(data, entity)
            day = data.draw(st.sampled_from(DAYS), label="day")
            if self.allowed({"prepartition"}) and data.draw(st.integers(0, 9), label="early") == 9:
                day, classes = None, classes | {"prepartition"}
            kafka_key = str(key).encode()
            items.append((kafka_key, json.dumps(raw, ensure_ascii=False).encode(), kafka_timestamp(day, when)))
            meta.append((key, row, day, classes))
        acks = self.send(entity, items, direct)
        for md, (key, row, day, classes) in zip(acks, meta):
            self.model.record(entity, md.partition, md.offset, key, row, day, classes)
        self.note(f"post {entity} x{count} {'direct' if direct else 'api'} {when}")

    @rule(entity=st.sampled_from(ENTITIES), kind=st.sampled_from(["not json {", "[1,2]", "bad-key", "no-key"]),
          day=st.sampled_from(DAYS))
    def post_garbage(self, entity, kind, day):
        """Records no view may take: malformed JSON, not an object, an invalid key."""
        if kind == "bad-key":
            value = {"pin": {"index": 1, "unique_id": "not-a-uuid", "title": "x"},
                     "geo": {"ind": "7.5", "country": "x"}, "user": {"ind": "seven", "age": 30}}[entity]
            payload = json.dumps(value).encode()
        elif kind == "no-key":
            payload = json.dumps({"title": "no key", "country": "x", "age": 40}).encode()
        else:
            payload = kind.encode()
        (md,) = self.send(entity, [(None, payload, kafka_timestamp(day, "noon"))], direct=True)
        self.model.record(entity, md.partition, md.offset, None, None, day)
        self.note(f"post_garbage {entity} {kind}")

    # ------------------------------------------------------------------ rules: jobs

    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES))
    def daily(self, data, entity):
        """The daily run of one entity for a day that has events: raw landing, cleaned, table."""
        day = data.draw(st.sampled_from(self.model.days() or list(DAYS)), label="day")
        self.daily_run(entity, day)

    def daily_assets(self, entity: str) -> list:
        from pinterest_assets.assets.cleaned import build_cleaned_asset
        from pinterest_assets.assets.raw import build_raw_asset
        from pinterest_assets.assets.serving import build_table_asset

        return [build_raw_asset(entity), build_cleaned_asset(entity), build_table_asset(entity)]

    def daily_run(self, entity: str, day: str) -> None:
        result = self.materialize(self.daily_assets(entity), partition_key=day)
        self.note(f"daily {entity} {day}")
        self.landed = True
        if result.success:
            self.model.daily_ran(entity, day)
        elif entity in self.grown:
            self.blocked.add(entity)  # stopping loudly after a partition change is allowed
            self.note(f"  (refused loudly after growth: {self.failure_text(result)[:200]})")
        else:
            self.violation(f"daily {entity} {day} FAILED (no value may block a step): {self.failure_text(result)}")

    # Hypothesis picks among the valid rules uniformly: the jobs get more tickets than the rest.
    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES))
    def daily_again(self, data, entity):
        self.daily(data, entity)

    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES))
    def daily_once_more(self, data, entity):
        self.daily(data, entity)

    @rule()
    def stream(self):
        """pin_stream: an availableNow run of the stream over everything in the topic."""
        from pinterest_assets.assets.streamed import pin_stream
        from pinterest_assets.stream.config import PinStreamConfig
        import dagster as dg

        config = PinStreamConfig(topic=self.topics["pin"], checkpoint_dir=str(self.home / "checkpoint"),
                                 max_offsets_per_trigger=50)
        result = self.materialize([pin_stream], run_config=dg.RunConfig(ops={"pin_stream": config}))
        self.note("stream")
        if result.success:
            self.model.stream_ran()
        elif "pin" in self.grown:
            self.blocked.add("pin")
            self.note(f"  (stream refused loudly after growth: {self.failure_text(result)[:200]})")
        else:
            self.violation(f"stream FAILED: {self.failure_text(result)}")

    @precondition(lambda self: not self.dbt_done and any(self.model.tables[e] for e in ENTITIES))
    @rule()
    def dbt(self):
        """dbt run of the staging models (views: from then on they are checked after every step)."""
        from pinterest_assets.assets.analytics import DBT_PROJECT_DIR, dbt_environment, dbt_executable

        # the staging views read the three tables: make sure each exists (an empty day is fine)
        for entity in ENTITIES:
            if not self.model.tables[entity]:
                self._ensure_table(entity)
        target = self.home / "dbt-target"
        with dbt_environment(self.dsn):
            proc = subprocess.run([dbt_executable(), "run", "--select", "staging", "--project-dir",
                                   str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                                   "--target-path", str(target), "--log-path", str(self.home / "dbt-logs")],
                                  capture_output=True, text=True, timeout=600, env=os.environ.copy())
        self.note("dbt staging")
        if proc.returncode != 0:
            self.violation(f"dbt run FAILED:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
        self.dbt_done = True

    def _ensure_table(self, entity: str) -> None:
        """A daily run of an empty day creates the (empty) table without touching the checked days."""
        result = self.materialize(self.daily_assets(entity), partition_key="2025-01-01")
        if not result.success and entity not in self.grown:
            self.violation(f"daily {entity} 2025-01-01 (empty) FAILED: {self.failure_text(result)}")
        if result.success:
            self.model.daily_ran(entity, "2025-01-01")

    # ------------------------------------------------------------------ rules: tampering and faults

    def _raw_files(self, entity: str):
        from pinterest_assets.landing.files import landed_files

        by_partition: dict[int, list] = {}
        for f in landed_files(self.lake, entity):
            if f.topic == self.topics[entity]:
                by_partition.setdefault(f.partition, []).append(f)
        return {p: sorted(fs, key=lambda f: f.first) for p, fs in by_partition.items()}

    def _land(self, entity: str, accept_loss: bool = False):
        from pinterest_assets.landing.engine import land_topic

        return land_topic(self.kafka, self.lake, entity, accept_loss=accept_loss)

    @precondition(lambda self: self.landed)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES),
          kind=st.sampled_from(["delete", "delete", "truncate", "foreign_overlap", "foreign_junk"]),
          position=st.sampled_from(["first", "middle", "last"]))
    def tamper(self, data, entity, kind, position):
        """Lake tampering at any position of a partition's raw history, then the landing: it must
        refuse exactly when loss is unavoidable, and succeed after the documented repair."""
        from pinterest_assets.landing.history import LandingRefused

        if entity in self.grown:  # its landing stops loudly on the partition count first
            return
        files = self._raw_files(entity)
        candidates = {p: fs for p, fs in files.items()
                      if (position == "first" and len(fs) >= 2) or (position == "middle" and len(fs) >= 3)
                      or position == "last"}
        if not candidates:
            return
        partition = data.draw(st.sampled_from(sorted(candidates)), label="partition")
        fs = candidates[partition]
        target = {"first": fs[0], "last": fs[-1]}.get(position) or fs[data.draw(st.integers(1, len(fs) - 2))]
        head = position == "first" and kind == "delete"
        if head and not self.allowed({"head_delete"}):
            return
        self.env.stats.fault(f"tamper_{kind}")
        relpath = target.relpath
        original = self.lake.read_bytes(relpath)
        self.note(f"tamper {kind} {position} {entity}/{partition} {target.relpath.rsplit('/', 1)[-1]}")
        must_refuse = True
        folder = relpath.rsplit("/", 1)[0]
        if kind == "delete":
            self.lake.delete(relpath)
            must_refuse = position != "last"  # the last file is landed again from Kafka: nothing lost
        elif kind == "truncate":
            cut = data.draw(st.integers(1, max(1, len(original) - 2)), label="cut")
            self.lake.write_bytes(relpath, original[:cut])
        elif kind == "foreign_overlap":
            # a landed-looking file of another day claiming an offset the lake already holds
            foreign = (f"{folder.rsplit('/', 1)[0]}/date=2025-03-09/"
                       f"{target.topic}-{target.partition}-{target.first}-{target.first}.jsonl")
            self.lake.write_bytes(foreign, b'{"title": "foreign"}\n')
        else:
            junk = f"{folder}/notes.txt"  # a file no landing writes: refused too (README), then removed
            self.lake.write_bytes(junk, b"not a landed file\n")
        try:
            self._land(entity)
            refused = None
        except LandingRefused as exc:
            refused = str(exc)
        if must_refuse and refused is None:
            self.violation(f"tamper {kind} at {position} of {entity}/{partition}: the next landing did NOT fail "
                           "(data missing or wrong in the lake, silently)")
        if not must_refuse and refused is not None:
            self.violation(f"tamper {kind} at {position} of {entity}/{partition}: the landing refused although "
                           f"nothing is lost: {refused}")
        # the documented repair: accept the loss of a deleted file, put back / remove the others
        if refused is not None:
            if kind == "delete":
                report = self._land(entity, accept_loss=True)
                for loss in report.accepted_loss:
                    self.model.lose(entity, loss.partition, loss.first, loss.last)
                self.note(f"  accept_loss: {[x.describe() for x in report.accepted_loss]}")
            elif kind == "truncate":
                self.lake.write_bytes(relpath, original)
            elif kind == "foreign_overlap":
                self.lake.delete(foreign)
            elif kind == "foreign_junk":
                self.lake.delete(junk)
            self._land(entity)

    @precondition(lambda self: len(self.model.events) >= 3)
    @rule(entity=st.sampled_from(ENTITIES), after=st.integers(1, 3))
    def kill_landing(self, entity, after):
        """SIGKILL a landing process after it wrote `after` files, then land again: exactly once."""
        from pinterest_assets.landing.files import landed_files

        if entity in self.grown:  # its landing stops loudly on the partition count first
            return
        progress = self.home / f"progress-{uuid.uuid4().hex[:6]}"
        script = f"""
import time
from pinterest_assets.landing.engine import land_topic
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
kafka = KafkaResource(bootstrap_servers={self.kafka.bootstrap_servers!r}, topics={dict(self.topics)!r})
lake = LakeResource(uri={self.lake.uri!r}, s3_endpoint_url={self.lake.s3_endpoint_url!r})
def slow(landed):
    with open({str(progress)!r}, "a") as f:
        f.write(landed.relpath + "\\n")
    time.sleep(0.3)
land_topic(kafka, lake, {entity!r}, max_records_per_file=1, on_file_written=slow)
"""
        proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if progress.exists() and len(progress.read_text().split()) >= after:
                break
            time.sleep(0.02)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
            self.env.stats.fault("kill_landing")
        proc.wait(timeout=30)
        if not killed and proc.returncode != 0:
            self.violation(f"landing process of {entity} FAILED: {proc.stderr.read().decode()[-2000:]}")
        self.note(f"kill_landing {entity} after {after} file(s) (killed={killed})")
        self.landed = True
        self._land(entity)
        covered: dict[int, list[int]] = {}
        for f in landed_files(self.lake, entity):
            if f.topic == self.topics[entity]:
                covered.setdefault(f.partition, []).extend(range(f.first, f.last + 1))
        lost = {(p, o) for (e, p, o) in self.model.lost if e == entity}
        for partition, end in self.kafka.end_offsets([self.topics[entity]]).items():
            p = partition[1] if isinstance(partition, tuple) else partition
            want = [o for o in range(end) if (p, o) not in lost]
            got = sorted(o for o in covered.get(p, []) if (p, o) not in lost)
            if got != want:
                self.violation(f"after a killed landing of {entity}, partition {p} holds offsets {got[:50]}, "
                               f"expected 0..{end - 1} once each")

    def _child(self, job: str, entity: str = "pin", day: str | None = None) -> subprocess.Popen:
        """A daily run or the stream in its own process group (its Spark JVM included)."""
        args = {"job": job, "entity": entity, "day": day, "topics": dict(self.topics),
                "bootstrap": self.kafka.bootstrap_servers, "lake": self.lake.uri, "dsn": self.dsn,
                "s3_endpoint": self.lake.s3_endpoint_url,
                "checkpoint": str(self.home / "checkpoint")}
        return subprocess.Popen([sys.executable, "-m", "pinterest_assets_tests.torture.child", json.dumps(args)],
                                env={**os.environ, "PINTEREST_SPARK_DRIVER_MEMORY": "1g"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    def _kill_child(self, proc: subprocess.Popen, after: float, what: str) -> bool:
        """SIGKILL the child's process group `after` seconds after its start; False: it had finished."""
        try:
            proc.wait(timeout=after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            self.env.stats.fault(what)
            return True
        if proc.returncode != 0 and not self.grown:
            self.violation(f"{what}: the child run FAILED on its own: {proc.stderr.read().decode()[-2000:]}")
        return False

    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES), after=st.floats(2, 45))
    def kill_daily(self, data, entity, after):
        """SIGKILL a daily run (its process group) `after` seconds in, then run the day again: exactly once."""
        day = data.draw(st.sampled_from(self.model.days() or list(DAYS)), label="day")
        killed = self._kill_child(self._child("daily", entity, day), after, "kill_daily")
        self.note(f"kill_daily {entity} {day} after {after:.1f}s (killed={killed})")
        self.daily_run(entity, day)

    @rule(after=st.floats(2, 45))
    def kill_stream(self, after):
        """SIGKILL the stream (small micro-batches) `after` seconds in, then restart it from its checkpoint."""
        killed = self._kill_child(self._child("stream"), after, "kill_stream")
        self.note(f"kill_stream after {after:.1f}s (killed={killed})")
        self.stream()

    def _during_daily(self, entity: str, day: str, after: float, crash, restart, what: str) -> None:
        """Run the day while a thread crashes a server `after` seconds in and restarts it; the run may
        fail (loudly); then the day runs again and must succeed."""
        import threading

        done = threading.Event()
        crashed: dict = {}

        def crasher():
            if not done.wait(after):
                crash()
                crashed["at"] = after
                time.sleep(1)
                restart()

        thread = threading.Thread(target=crasher, name=f"torture-{what}", daemon=True)
        thread.start()
        try:
            first = self.materialize(self.daily_assets(entity), partition_key=day)
        finally:
            done.set()
            thread.join(180)
            restart()
        if crashed:
            self.env.stats.fault(what)
        self.note(f"{what} during daily {entity} {day} after {after:.1f}s (crashed={bool(crashed)}, "
                  f"run {'succeeded' if first.success else 'failed'})")
        if first.success:
            self.model.daily_ran(entity, day)
        elif not crashed and entity not in self.grown:
            self.violation(f"daily {entity} {day} FAILED without a crash: {self.failure_text(first)}")
        self.daily_run(entity, day)

    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES), after=st.floats(0, 20))
    def kill_kafka(self, data, entity, after):
        """SIGKILL the Kafka broker during a daily run, restart it; the day runs again: nothing lost."""
        from pinterest_platform.stack import kafka
        from pinterest_assets_tests.stack_faults import sigkill_kafka

        stack = self.env.stack
        day = data.draw(st.sampled_from(self.model.days() or list(DAYS)), label="day")
        self._during_daily(entity, day, after, lambda: sigkill_kafka(stack), lambda: kafka.is_running(stack) or kafka.start(stack),
                           "kill_kafka")

    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), entity=st.sampled_from(ENTITIES), after=st.floats(0, 30))
    def crash_postgres(self, data, entity, after):
        """Postgres stopped in immediate mode (no shutdown checkpoint, like a crash) during a daily
        run, restarted; the day runs again: nothing lost, nothing doubled."""
        from pinterest_platform.stack import postgres

        stack = self.env.stack
        day = data.draw(st.sampled_from(self.model.days() or list(DAYS)), label="day")
        self._during_daily(entity, day, after, lambda: postgres.pg_ctl(stack, "-m", "immediate", "stop"),
                           lambda: postgres.is_running(stack) or postgres.start(stack), "crash_postgres")

    @rule()
    def api_restart(self):
        """The API restarted: a new producer (the same key partitioner), fresh metadata."""
        from kafka import KafkaProducer

        from pinterest_ingest.producer import KeyPartitioner

        self.env.producer.close()
        self.env.producer = KafkaProducer(bootstrap_servers=self.env.stack.kafka_bootstrap_servers, acks="all",
                                          linger_ms=2, partitioner=KeyPartitioner(), metadata_max_age_ms=1000)
        self.env.stats.fault("api_restart")
        self.note("api_restart")

    @rule(entity=st.sampled_from(ENTITIES), extra=st.integers(1, 3))
    def topic_grow(self, entity, extra):
        """`pinterest topic grow` (the supported way; the producers are idle): every run afterwards
        succeeds and the newest accepted version still wins."""
        from pinterest_assets.ordering import grow_topic

        if entity in self.grown:  # grown outside the command, then written to: it refuses (tested apart)
            return

        grow_topic(self.kafka, self.lake, entity, self.partitions[entity] + extra, quiet_s=1.5)
        self.partitions[entity] += extra
        self.env.stats.fault("topic_grow")
        self.note(f"topic_grow {entity} to {self.partitions[entity]} partitions")
        self._await_partitions(entity)

    def _await_partitions(self, entity: str) -> None:
        """The producers must see the new partition count before the next post."""
        for producer in (self.env.producer, self.env.direct):
            deadline = time.monotonic() + 30
            while len(producer.partitions_for(self.topics[entity]) or ()) < self.partitions[entity]:
                if time.monotonic() > deadline:
                    break
                producer._metadata.request_update()
                time.sleep(0.2)

    @rule(entity=st.sampled_from(ENTITIES), extra=st.integers(1, 2))
    def grow(self, entity, extra):
        """Partitions added to a topic directly (not with a supported grow step): from then on a run
        may refuse loudly, but no view may hold a silently stale row."""
        from kafka.admin import NewPartitions

        self.partitions[entity] += extra
        self.env.admin.create_partitions({self.topics[entity]: NewPartitions(total_count=self.partitions[entity])})
        self.grown.add(entity)
        self.env.stats.fault("partitions_added")
        self.note(f"grow {entity} to {self.partitions[entity]} partitions")
        self._await_partitions(entity)

    # ------------------------------------------------------------------ the invariant

    def _query(self, sql: str, missing_ok: bool = True) -> list[tuple]:
        """The rows; a table no run created yet has none (``missing_ok``), a missing view is a violation."""
        with psycopg.connect(self.dsn) as conn:
            try:
                return conn.execute(sql).fetchall()
            except psycopg.errors.UndefinedTable as exc:
                if missing_ok:
                    return []
                self.violation(f"{sql}: {exc}")

    @invariant()
    def views_match_the_model(self):
        from pinterest_assets import entities as registry

        problems = []
        for entity in ENTITIES:
            columns = V.COLUMNS[entity]
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = self._query(f'SELECT date::text, {cols}, _kafka_partition, _kafka_offset '
                               f'FROM pinterest."{entity}_table"')
            by_day: dict[str, dict] = {}
            for r in rows:
                values = dict(zip(columns, r[1:-2]))
                key = values[KEY[entity]]
                day = by_day.setdefault(r[0], {})
                if key in day:
                    problems.append(f"{entity}_table {r[0]}: DOUBLED key {key!r}")
                day[key] = (values, r[-2], r[-1])
            for day in set(by_day) | set(self.model.tables[entity]):
                problems += diff_rows(f"{entity}_table[{day}]", self.model.tables[entity].get(day, {}),
                                      by_day.get(day, {}), columns)
        if self.model.stream is not None:
            columns = registry.entity("pin").columns
            cols = ", ".join(f'"{c}"' for c in columns)
            actual = {}
            for r in self._query(f'SELECT {cols}, _kafka_partition, _kafka_offset FROM pinterest.pin_stream'):
                values = dict(zip(columns, r[:-2]))
                actual[values["unique_id"]] = (values, r[-2], r[-1])
            problems += diff_rows("pin_stream", self.model.stream, actual, V.COLUMNS["pin"])
        if self.dbt_done:
            for view, (entity, mapping) in STAGING.items():
                cols = ", ".join(f'"{c}"' for c in mapping)
                actual = {}
                rows = self._query(f"SELECT {cols}, loaded_date::text FROM {STAGING_SCHEMA}.{view}", missing_ok=False)
                for r in rows:
                    values = {mapping[c]: v for c, v in zip(mapping, r)}
                    values["_day"] = r[-1]
                    if values[KEY[entity]] in actual:
                        problems.append(f"{view}: DOUBLED key {values[KEY[entity]]!r}")
                    actual[values[KEY[entity]]] = (values, None, None)
                problems += diff_rows(view, self.model.staging(entity), actual, tuple(mapping.values()))
        if problems:
            self.violation(f"{len(problems)} difference(s) between the views and the model:\n  "
                           + "\n  ".join(problems[:40]))

    def teardown(self):
        print(f"torture seed {self.env.seed} schedule: " + " | ".join(self.log), flush=True)
        try:
            with psycopg.connect(self.env.stack.postgres_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        except Exception:  # noqa: BLE001 - cleanup only
            pass
        try:
            self.env.admin.delete_topics(list(self.topics.values()), timeout_ms=30000)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
        shutil.rmtree(self.home, ignore_errors=True)


def make_machine(env: Env):
    """A Torture subclass bound to `env` (Hypothesis builds one instance per schedule)."""
    return type("Torture", (Torture,), {"env": env})
