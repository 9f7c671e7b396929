"""Bad configuration and a missing Java end as one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PINTEREST = str(Path(sys.executable).parent / "pinterest")

BAD = [
    ("PINTEREST_KAFKA_PORT", "abc", ["stack", "status"]),
    ("PINTEREST_PG_PORT", "70000", ["stack", "env"]),
    ("PINTEREST_API_PORT", "-1", ["emulate", "--count", "1"]),
    ("PINTEREST_LAKE_URI", "relative/folder", ["stream"]),
    ("PINTEREST_KAFKA_BOOTSTRAP", "no-port-here", ["demo"]),
    ("PINTEREST_PG_DSN", "mysql://x", ["report"]),
    ("PINTEREST_S3_ENDPOINT", "localhost:9000", ["stack", "status", "--json"]),
]


def run(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([PINTEREST, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("variable,value,args", BAD, ids=[b[0] for b in BAD])
def test_a_bad_variable_is_one_line_and_exit_2(variable, value, args, tmp_path):
    env = {**os.environ, variable: value, "PINTEREST_HOME": str(tmp_path)}
    done = run(args, env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    assert f"{variable}={value!r}" in output, output


def test_spark_commands_without_java_say_what_to_install(tmp_path):
    raw = tmp_path / "pins.jsonl"
    raw.write_text('{"index": 1, "unique_id": "x"}\n')
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PINTEREST_HOME": str(tmp_path)}
    env.pop("JAVA_HOME", None)
    for args in (["clean", "--entity", "pin", str(raw), str(tmp_path / "out.jsonl")], ["stream"]):
        done = run(args, env)
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert "Traceback" not in output and "JAVA_GATEWAY_EXITED" not in output, output
        assert "Java not found" in output and "JDK 17" in output, output


def test_the_spark_resource_fails_with_the_java_hint(monkeypatch):
    import dagster as dg

    from pinterest_assets.resources.spark_resource import SparkResource

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(dg.Failure, match="Java not found"):
        SparkResource(app_name="no-java")._init_session()


def test_the_code_location_names_the_bad_variable(monkeypatch):
    from pinterest_assets.settings import SettingsError

    monkeypatch.setenv("PINTEREST_S3_PORT", "ninety")
    from pinterest_assets.definitions import defs

    with pytest.raises(SettingsError, match="PINTEREST_S3_PORT='ninety'"):
        defs()
