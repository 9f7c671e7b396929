"""`pinterest stream` as a user runs it: killed with SIGKILL mid-way, restarted, stopped with SIGTERM."""

import re
import signal
import time
import uuid

import pytest

from pinterest_assets_tests.serving.conftest import pin_record
from pinterest_assets_tests.stream_process import StreamProcess

pytestmark = pytest.mark.integration


def wait_for(predicate, timeout: float, what: str, proc: StreamProcess):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.proc.poll() is not None:
            raise AssertionError(f"`pinterest stream` exited ({proc.proc.returncode}) waiting for {what}:\n{proc.output()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{proc.output()[-3000:]}")


def test_stream_survives_sigkill_and_stops_cleanly(stack, postgres, new_topic, produce, query_pg, tmp_path):
    topic = new_topic(partitions=3)
    table = f"pin_stream_cli_{uuid.uuid4().hex[:8]}"
    keys = [str(uuid.uuid4()) for _ in range(120)]
    t0 = int(time.time() * 1000) - 600_000
    # every key twice: first "old", later (newer timestamp, maybe another partition) "new"
    records = [pin_record(i, k, title="old") for i, k in enumerate(keys)] + \
              [pin_record(i, k, title="new") for i, k in enumerate(keys)]
    produce(topic, records, timestamps=[t0 + i for i in range(len(records))],
            partitions=[i % 3 for i in range(len(records))])
    args = ["--topic", topic, "--table", table, "--checkpoint-dir", str(tmp_path / "checkpoint"),
            "--max-offsets-per-trigger", "30", "--trigger-seconds", "0.5"]

    def stored() -> int:
        try:
            return query_pg(f'SELECT count(*) FROM pinterest."{table}"')[0][0]
        except Exception:  # the table appears when the query starts
            return 0

    first = StreamProcess(args, tmp_path / "stream.log")
    try:
        wait_for(lambda: stored() > 0, 180, "the first rows", first)
        first.kill_hard()
    finally:
        first.cleanup()
    newest = query_pg(f"SELECT count(*) FROM pinterest.\"{table}\" WHERE title = 'new'")[0][0]
    assert newest < len(keys), "the stream finished before it could be killed mid-way; produce more records"

    second = StreamProcess(args, tmp_path / "stream.log")
    try:
        def all_new():
            rows = query_pg(f'SELECT title, count(*) FROM pinterest."{table}" GROUP BY title')
            return dict(rows) == {"new": len(keys)}

        wait_for(all_new, 240, "every key with its newest value", second)
        second.proc.send_signal(signal.SIGTERM)  # the Python driver only, as a service manager would
        assert second.proc.wait(timeout=90) == 0, second.output()[-3000:]
        second._reader.join(timeout=10)
    finally:
        second.cleanup()
    assert "stopped:" in second.output()
    # the JIT warm-up ran before the query subscribed, and wrote nothing (the counts below are exact)
    out = second.output()
    steps = [out.find("warming up on 20,000 generated pins"), out.find("warmed up in"), out.find("\nstreaming ")]
    assert -1 not in steps and steps == sorted(steps), out[-3000:]
    # progress lines carry the lag: end offsets minus the batch's committed offsets, newest row age
    progress = [m for m in (re.search(r"\] batch \d+: .* in [0-9.]+s \(spark [0-9.]+s, postgres [0-9.]+s\); lag (\d+) records, newest row ([0-9.]+)s old",
                                      line) for line in second.lines) if m]
    assert progress, second.output()[-3000:]
    assert int(progress[-1].group(1)) == 0  # everything was produced before the start: caught up at the end
    assert float(progress[-1].group(2)) > 500  # the newest event was produced ~10 minutes "ago" (t0)
    assert query_pg(f'SELECT count(*), count(DISTINCT unique_id) FROM pinterest."{table}"') == [(len(keys), len(keys))]
    assert {r[0] for r in query_pg(f'SELECT unique_id FROM pinterest."{table}"')} == set(keys)


def test_sigterm_during_the_warm_up_exits_0_before_anything_starts(stack, query_pg, tmp_path):
    """A service manager stopping `pinterest stream` while it warms up: exit 0, no traceback, no
    table, no checkpoint (the query never started)."""
    table = f"warm_{uuid.uuid4().hex[:8]}"
    checkpoint = tmp_path / "checkpoint"
    proc = StreamProcess(["--topic", f"warm.{table}", "--table", table, "--checkpoint-dir", str(checkpoint)],
                         tmp_path / "stream.log")
    try:
        wait_for(lambda: "warming up on" in proc.output(), 180, "the warm-up to start", proc)
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=180) == 0, proc.output()[-3000:]
        proc._reader.join(timeout=10)
    finally:
        proc.cleanup()
    out = proc.output()
    assert "stopped during the warm-up: the query never started" in out and "Traceback" not in out, out[-3000:]
    assert "streaming " not in out and not checkpoint.exists()
    assert query_pg(f"SELECT to_regclass('pinterest.\"{table}\"') IS NULL") == [(True,)]


def test_a_running_stream_keeps_pin_stream_fresh_in_dagster_and_stale_a_minute_after_it_stops(
        stack, new_topic, produce, tmp_path, monkeypatch):
    """`pinterest stream` reports pin_stream to the instance of DAGSTER_HOME (a real one, in a temp
    folder); pin_stream's freshness policy, evaluated by Dagster's own evaluator, is PASS while it
    runs and FAIL within a minute after it stops."""
    import asyncio

    import dagster as dg
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
    from dagster._core.test_utils import BasicLoadingContext

    from pinterest_assets.assets.analytics import PIN_STREAM_FRESHNESS

    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    topic = new_topic()
    keys = [str(uuid.uuid4()) for _ in range(8)]
    produce(topic, [pin_record(i, k) for i, k in enumerate(keys)])
    table = f"pin_stream_fresh_{uuid.uuid4().hex[:8]}"
    @dg.asset(name="pin_stream", freshness_policy=PIN_STREAM_FRESHNESS)
    def policy_holder(): ...

    node = AssetGraph.from_assets([policy_holder]).get(dg.AssetKey("pin_stream"))
    instance = dg.DagsterInstance.get()

    def freshness() -> FreshnessState:
        return asyncio.run(TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(
            BasicLoadingContext(instance), node))

    def latest() -> dict:
        event = instance.get_latest_materialization_event(dg.AssetKey("pin_stream"))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()} if event else {}

    proc = StreamProcess(["--topic", topic, "--table", table, "--checkpoint-dir", str(tmp_path / "checkpoint"),
                          "--warm-up-records", "0", "--report-seconds", "2"], tmp_path / "stream.log")
    try:
        wait_for(lambda: latest().get("rows_upserted_total") == len(keys), 240, "a report of every row", proc)
        first = latest()
        assert first["lag_records"] == 0 and sum(first["last_offsets"].values()) == len(keys)
        assert first["table"] == f"pinterest.{table}"
        assert freshness() == FreshnessState.PASS
        # idle but running: still reported, still fresh
        count = len(instance.fetch_materializations(dg.AssetKey("pin_stream"), limit=1000).records)
        time.sleep(5)
        assert len(instance.fetch_materializations(dg.AssetKey("pin_stream"), limit=1000).records) > count
        assert freshness() == FreshnessState.PASS
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=90) == 0, proc.output()[-3000:]
    finally:
        proc.cleanup()
    stopped = time.monotonic()
    while freshness() != FreshnessState.FAIL:
        assert time.monotonic() - stopped < 70, "pin_stream still fresh over a minute after the stream stopped"
        time.sleep(1)
    instance.dispose()
