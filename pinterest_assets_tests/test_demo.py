"""`pinterest demo` end to end, on a stack of its own: what a new user runs first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pinterest_platform.stack.common import port_open
from pinterest_assets_tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.mark.timeout(2400)  # the whole pipeline plus dbt on a 2-core machine shared with the suite
def test_demo_reconciles_with_nothing_lost_or_duplicated_and_stops_what_it_started(stack_env, tmp_path):
    ports = {name: free_port() for name in ("PINTEREST_KAFKA_PORT", "PINTEREST_KAFKA_CONTROLLER_PORT",
                                            "PINTEREST_PG_PORT", "PINTEREST_API_PORT")}
    env = {k: v for k, v in os.environ.items()
           if k not in ("PINTEREST_S3_ENDPOINT", "PINTEREST_LAKE_URI", "PINTEREST_KAFKA_BOOTSTRAP",
                        "PINTEREST_PG_DSN", "DAGSTER_HOME")}
    # not under pytest's 0700 temp root: PostgreSQL runs as another user when we are root
    home = Path(tempfile.mkdtemp(prefix="pinterest-test-demo-"))
    home.chmod(0o755)
    env.update({"PINTEREST_HOME": str(home), **{k: str(v) for k, v in ports.items()}})
    result = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "demo", "--events", "150"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=2300)
    shutil.rmtree(home, ignore_errors=True)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "lost = 0, duplicated = 0" in out
    for title in ("Reconciliation", "Most popular category per year", "Median follower count per age group",
                  "Top poster per country"):
        assert title in out, title
    assert "Traceback" not in out
    for name, port in ports.items():
        assert not port_open("127.0.0.1", port), f"{name} {port} still open after the demo"
