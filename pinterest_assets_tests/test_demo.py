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


def run_demo(tmp_path, *flags: str, events: int = 150, extra_ports: tuple[str, ...] = ()) -> tuple[str, dict]:
    """`pinterest demo` on a stack of its own (free ports, its own home); (output, ports)."""
    ports = {name: free_port() for name in ("PINTEREST_KAFKA_PORT", "PINTEREST_KAFKA_CONTROLLER_PORT",
                                            "PINTEREST_PG_PORT", "PINTEREST_API_PORT", *extra_ports)}
    env = {k: v for k, v in os.environ.items()
           if k not in ("PINTEREST_S3_ENDPOINT", "PINTEREST_LAKE_URI", "PINTEREST_KAFKA_BOOTSTRAP",
                        "PINTEREST_PG_DSN", "DAGSTER_HOME") and not k.startswith(("PINTEREST_KAFKA_S", "PG"))}
    # not under pytest's 0700 temp root: PostgreSQL runs as another user when we are root
    home = Path(tempfile.mkdtemp(prefix="pinterest-test-demo-"))
    home.chmod(0o755)
    env.update({"PINTEREST_HOME": str(home), **{k: str(v) for k, v in ports.items()}})
    result = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "demo", "--events", str(events),
                             *flags], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=2300)
    lake = home / "lake"
    pointers = list(lake.rglob("_CURRENT"))
    iceberg_metadata = list(lake.glob("pinterest/cleaned_*/metadata/*.metadata.json"))
    shutil.rmtree(home, ignore_errors=True)
    out = result.stdout + result.stderr
    assert pointers == [] and iceberg_metadata, (pointers, iceberg_metadata)  # the cleaned layer is Iceberg
    assert result.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    for name, port in ports.items():
        assert not port_open("127.0.0.1", port), f"{name} {port} still open after the demo"
    return out, ports


@pytest.mark.timeout(2400)  # the whole pipeline plus dbt on a 2-core machine shared with the suite
def test_demo_reconciles_with_nothing_lost_or_duplicated_and_stops_what_it_started(stack_env, tmp_path):
    out, _ = run_demo(tmp_path)
    assert "lost = 0, duplicated = 0" in out
    for title in ("Reconciliation", "Most popular category per year", "Median follower count per age group",
                  "Top poster per country"):
        assert title in out, title


@pytest.mark.timeout(2400)
def test_secure_demo_goes_through_sasl_ssl_kafka_and_tls_postgres(stack_env, tmp_path):
    out, ports = run_demo(tmp_path, "--secure", events=40, extra_ports=("PINTEREST_KAFKA_SECURE_PORT",))
    assert (f"kafka: 127.0.0.1:{ports['PINTEREST_KAFKA_SECURE_PORT']} over SASL_SSL (SCRAM-SHA-512); "
            "postgres: TLS only, sslmode=verify-full") in out
    assert "done: lost = 0, duplicated = 0, stale = 0" in out
