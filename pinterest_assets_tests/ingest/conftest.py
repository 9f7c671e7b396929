"""Fixtures for the ingestion tests: the API as a real uvicorn server process, and Kafka readers.

`api_url` runs `python -m pinterest_platform.cli api` against the session's real Kafka (the `stack`
fixture) on a free port, waits for /readyz and terminates it at the end. `start_api` starts
extra servers with their own environment (an API key, a short ack timeout).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from pinterest_assets import entities as registry
from pinterest_assets.settings import project_root
from pinterest_assets_tests.conftest import free_port


@contextmanager
def run_api(extra_env: dict | None = None, ready: str = "/readyz", timeout: float = 60.0):
    """A real API server process on a free port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PINTEREST_API_PORT": str(port), **(extra_env or {})}
    log = open(os.path.join(os.environ["PINTEREST_HOME"], f"api-{port}.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "pinterest_platform.cli", "api", "--port", str(port),
                             "--log-level", "info"],
                            env=env, cwd=project_root(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    key = env.get("PINTEREST_API_KEY")
    auth = {"authorization": f"Bearer {key}"} if key else {}  # /readyz needs the key when one is set
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(url + ready, headers=auth, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API was not ready within {timeout} s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def api_url(stack) -> str:
    with run_api() as url:
        yield url


@pytest.fixture(scope="session")
def start_api(stack):
    return run_api


@pytest.fixture()
def client(api_url):
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c


class TopicReader:
    """Reads exact offsets and offset ranges of the pinterest topics with a real consumer."""

    def __init__(self, bootstrap: str):
        from kafka import KafkaConsumer

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                      group_id=None, consumer_timeout_ms=1000)

    def end_offsets(self) -> dict:
        from kafka import TopicPartition

        tps = [TopicPartition(t, p) for t in registry.topics().values()
               for p in sorted(self.consumer.partitions_for_topic(t) or ())]
        return dict(self.consumer.end_offsets(tps))

    def read(self, start: dict, end: dict | None = None, timeout: float = 30.0) -> list:
        """All records from `start` offsets up to `end` (default: the current end offsets)."""
        end = end or self.end_offsets()
        wanted = {tp: (start.get(tp, 0), stop) for tp, stop in end.items() if stop > start.get(tp, 0)}
        if not wanted:
            return []
        self.consumer.assign(list(wanted))
        for tp, (first, _) in wanted.items():
            self.consumer.seek(tp, first)
        records, done = [], set()
        deadline = time.monotonic() + timeout
        while len(done) < len(wanted) and time.monotonic() < deadline:
            for tp, batch in self.consumer.poll(timeout_ms=500).items():
                for record in batch:
                    if record.offset < wanted[tp][1]:
                        records.append(record)
                    if record.offset >= wanted[tp][1] - 1:
                        done.add(tp)
        assert len(done) == len(wanted), f"could not read all of {wanted} within {timeout} s"
        return records

    def at(self, topic: str, partition: int, offset: int):
        from kafka import TopicPartition

        tp = TopicPartition(topic, partition)
        records = self.read({tp: offset}, {tp: offset + 1})
        assert len(records) == 1
        return records[0]

    def close(self):
        self.consumer.close()


@pytest.fixture()
def topics(stack):
    reader = TopicReader(stack.kafka_bootstrap_servers)
    yield reader
    reader.close()
