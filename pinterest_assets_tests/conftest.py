"""Session fixtures shared by the whole suite.

`stack` starts real Kafka, PostgreSQL and S3 servers once per test session, on free ports under a
temporary home, so a developer's running stack is never touched; it sets the PINTEREST_* variables
for the session so every part of the code (Spark factory, resources, CLI subprocesses) sees it.
`spark` is the project's own SparkSession (the one factory), configured for that S3 server.
A service that cannot start fails the tests that need it: nothing here skips.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess

import pytest

# py4j logs "Closing down clientserver connection" at interpreter exit, after pytest closed the
# streams it captured: keep it quiet instead of printing a logging traceback at the end of a run.
logging.getLogger("py4j").setLevel(logging.WARNING)

from pinterest_assets.settings import Settings, project_root


def connected_api_producer(bootstrap: str, ack_timeout: float):
    """The ingestion API's producer (AsyncProducer), started and connected to `bootstrap` (30 s at
    most); the caller closes it."""
    import time

    from pinterest_ingest.producer import AsyncProducer

    producer = AsyncProducer(bootstrap, ack_timeout=ack_timeout)
    producer.start()
    deadline = time.monotonic() + 30
    while not producer.connected:
        if time.monotonic() >= deadline:
            producer.close(timeout=5)
            raise AssertionError(producer._connect_error)
        time.sleep(0.1)
    return producer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def stack_env():
    """Environment of the test stack (ports and home); applied to os.environ for the session.

    The home is a fresh folder of its own, not under pytest's /tmp/pytest-of-<user>: PostgreSQL
    runs as another user when we are root and must traverse it, and a concurrent pytest session
    resets that folder to mode 0700."""
    import shutil
    import tempfile
    from pathlib import Path

    home = Path(tempfile.mkdtemp(prefix="pinterest-test-stack-"))
    home.chmod(0o755)
    env = {
        "PINTEREST_HOME": str(home),
        "PINTEREST_JARS_DIR": os.environ.get("PINTEREST_JARS_DIR", str(project_root() / ".local" / "jars")),
        "PINTEREST_KAFKA_PORT": str(free_port()),
        "PINTEREST_KAFKA_CONTROLLER_PORT": str(free_port()),
        "PINTEREST_PG_PORT": str(free_port()),
        "PINTEREST_S3_PORT": str(free_port()),
        "PINTEREST_API_PORT": str(free_port()),
        # two pytest workers, each with its own stack, Spark and subprocess Sparks, on one 24 GB
        # machine: the tests' data fit a 2 GB driver heap (the default, 4 GB, is for real days)
        "PINTEREST_SPARK_DRIVER_MEMORY": os.environ.get("PINTEREST_SPARK_DRIVER_MEMORY", "2g"),
    }
    for name in ("PINTEREST_KAFKA_BOOTSTRAP", "PINTEREST_PG_DSN", "PINTEREST_LAKE_URI",
                 "PINTEREST_S3_ENDPOINT", "PINTEREST_API_URL"):
        os.environ.pop(name, None)
    os.environ.update(env)
    env["PINTEREST_S3_ENDPOINT"] = f"http://127.0.0.1:{env['PINTEREST_S3_PORT']}"
    yield env
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(stack_env) -> Settings:
    """A running Kafka + Postgres + S3 stack; yields its Settings."""
    from pinterest_platform.stack import manager

    settings = Settings()
    manager.up(settings, with_s3=True)
    os.environ["PINTEREST_S3_ENDPOINT"] = stack_env["PINTEREST_S3_ENDPOINT"]
    try:
        yield Settings()
    finally:
        manager.down(settings)


@pytest.fixture(scope="session")
def spark(stack_env):
    """The project's SparkSession, with s3a pointed at the test S3 server."""
    from pinterest_assets.resources.spark_session import build_spark_session

    os.environ["PINTEREST_S3_ENDPOINT"] = stack_env["PINTEREST_S3_ENDPOINT"]
    session = build_spark_session(app_name="pinterest-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def dagster_server(stack, tmp_path_factory):
    """A real Dagster webserver + daemon on this project's code location (plus a tiny test
    location with a job that always fails), instance storage in the test stack's Postgres.
    Yields the webserver URL. Runs from a temp folder, so the project's .env is not read."""
    import sys
    import urllib.request
    from pathlib import Path

    from pinterest_platform.stack import common
    from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home

    workdir = tmp_path_factory.mktemp("dagster_server")
    root = project_root()
    workspace = workdir / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: pinterest_assets.definitions\n"
        f"      working_directory: {root}\n"
        "  - python_module:\n"
        "      module_name: pinterest_assets_tests.dagster_test_location\n"
        f"      working_directory: {root}\n"
    )
    prepare_dagster_home(stack)
    env = {**os.environ, **dagster_env(stack), "PYTHONPATH": str(root)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    web = common.spawn([str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1",
                        "-p", str(port)], workdir / "webserver.log", cwd=workdir, env=env)
    daemon = common.spawn([str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
                          workdir / "daemon.log", cwd=workdir, env=env)

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
            return response.status == 200

    try:
        common.wait_until(ready, 180, interval=1, alive=lambda: web.poll() is None,
                          what="dagster-webserver", log=workdir / "webserver.log")
        # This instance is shared by every test of the session, and this daemon's lake is the
        # session's default one. late_data_sensor (running by default) would re-clean "today" from
        # that lake whenever some test's landing touched a day another test had cleaned, replacing
        # the daily tables under the tests that check them. Its logic is tested on its own
        # (assets/test_late_data.py); here it is stopped.
        stop = subprocess.run([str(bin_dir / "dagster"), "sensor", "stop", "late_data_sensor", "-w", str(workspace),
                               "-l", "pinterest_assets.definitions"],
                              cwd=workdir, env=env, capture_output=True, text=True, timeout=180)
        assert stop.returncode == 0, f"could not stop late_data_sensor:\n{stop.stdout}\n{stop.stderr}"
        yield url
    finally:
        for proc in (daemon, web):
            common.terminate_tree(proc.pid, timeout=30)  # the webserver's and daemon's code servers too
