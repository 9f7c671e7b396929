"""The cluster-mode session: `pinterest stack up --cluster --s3` on free ports under a temp home.

3 KRaft Kafka brokers (topics RF 3, min.insync.replicas 2), a Spark standalone master with 2
workers, PostgreSQL and the S3 API server, all real processes. Every test of this folder is marked
`cluster` and runs in its own pytest session (`make test-cluster`): the session's environment
points at the cluster's three brokers, not at the single-node stack of the other tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinterest_assets.settings import Settings


HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    """Collected only when asked for: `-m cluster` (make test-cluster) or a path inside this folder.
    A plain `pytest` (make test) runs the single-node stack on the same ports, so it skips the
    folder at collection (nothing here is a skipped test: it is not part of that session)."""
    markexpr = config.getoption("markexpr") or ""
    if "cluster" in markexpr and "not cluster" not in markexpr:
        return None
    if any(str(Path(arg.split("::")[0]).resolve()).startswith(str(HERE)) for arg in config.args):
        return None
    if Path(collection_path).resolve().parent == HERE and Path(collection_path).name.startswith("test_"):
        return True
    return None


@pytest.fixture(scope="session")
def cluster_stack(stack_env) -> Settings:
    """The running cluster stack; yields its Settings (bootstrap = all three brokers)."""
    from pinterest_platform.stack import cluster, manager

    settings = Settings()
    try:
        manager.up(settings, with_s3=True, cluster_mode=True)
        os.environ["PINTEREST_S3_ENDPOINT"] = stack_env["PINTEREST_S3_ENDPOINT"]
        os.environ["PINTEREST_KAFKA_BOOTSTRAP"] = cluster.bootstrap(settings)
        yield Settings()
    finally:
        os.environ.pop("PINTEREST_KAFKA_BOOTSTRAP", None)
        manager.down(settings, force=True)
