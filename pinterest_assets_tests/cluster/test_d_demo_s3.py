"""`pinterest demo --s3` (`make demo S3=1`): the whole pipeline with the lake on the local S3 API
through s3a://, reconciled like the default demo, on a stack of its own (single-node Kafka,
PostgreSQL, the S3 server), which it stops afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pinterest_platform.stack.common import port_open
from pinterest_assets_tests.conftest import free_port

pytestmark = pytest.mark.cluster

DEMO_TIMEOUT = 1200  # ~6 min on a quiet 2-core machine; room for a loaded one


@pytest.mark.timeout(DEMO_TIMEOUT + 120)
def test_demo_s3_runs_the_pipeline_on_an_s3a_lake_and_reconciles(stack_env, tmp_path):
    ports = {name: free_port() for name in ("PINTEREST_KAFKA_PORT", "PINTEREST_KAFKA_CONTROLLER_PORT",
                                            "PINTEREST_PG_PORT", "PINTEREST_API_PORT", "PINTEREST_S3_PORT")}
    env = {k: v for k, v in os.environ.items()
           if k not in ("PINTEREST_S3_ENDPOINT", "PINTEREST_LAKE_URI", "PINTEREST_KAFKA_BOOTSTRAP",
                        "PINTEREST_PG_DSN", "DAGSTER_HOME", "PINTEREST_SPARK_MASTER")}
    home = Path(tempfile.mkdtemp(prefix="pinterest-test-demo-s3-"))
    home.chmod(0o755)
    env.update({"PINTEREST_HOME": str(home), **{k: str(v) for k, v in ports.items()}})
    log = tmp_path / "demo.log"
    rc = None
    try:
        with open(log, "wb") as handle:
            proc = subprocess.Popen([sys.executable, "-m", "pinterest_platform.cli", "demo", "--s3",
                                     "--events", "150"], cwd=tmp_path, env=env, stdout=handle, stderr=subprocess.STDOUT)
            try:
                rc = proc.wait(timeout=DEMO_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)  # the demo's finally stops the stack it started
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(30)
                rc = None
    finally:
        if rc != 0:  # whatever the demo left running in its home, stopped by recorded PID
            subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "stack", "down", "--force"],
                           env=env, capture_output=True, timeout=300)
        local_lake_written = (home / "lake").exists()
        shutil.rmtree(home, ignore_errors=True)
    out = log.read_text(errors="replace")
    steps = "\n".join(line for line in out.splitlines() if line.startswith("▶"))
    print(f"\ndemo --s3 steps:\n{steps}")
    assert rc is not None, f"demo --s3 did not finish within {DEMO_TIMEOUT}s; its steps:\n{steps}\n{out[-3000:]}"
    assert rc == 0, out[-4000:]
    flat = " ".join(out.split())
    assert "lake: s3a://pinterest-lake/demo" in flat, out[-3000:]
    assert "IN MEMORY" in flat                       # the demo says where its lake lives
    assert "lost = 0, duplicated = 0" in out
    assert "cleaned (lake)" in out and "Reconciliation" in out
    assert "Traceback" not in out
    # the lake really was in S3: nothing was written to a local lake folder
    assert not local_lake_written
    for name, port in ports.items():
        assert not port_open("127.0.0.1", port), f"{name} {port} still open after the demo"
