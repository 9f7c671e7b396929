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
    ("PINTEREST_SPARK_SHUFFLE_PARTITIONS", "abc", ["stream"]),
    ("PINTEREST_SPARK_SHUFFLE_PARTITIONS", "0", ["demo"]),
    ("PINTEREST_SPARK_DRIVER_MEMORY", "lots", ["stream"]),
    ("PINTEREST_SPARK_EXECUTOR_MEMORY", "2 GB", ["clean", "--entity", "pin", "in.jsonl", "out.jsonl"]),
    ("PINTEREST_SPARK_EXECUTOR_CORES", "-2", ["demo"]),
    ("PINTEREST_SPARK_CORES_MAX", "many", ["demo"]),
    ("PINTEREST_SPARK_MASTER", "spark:/oops", ["demo"]),
    ("PINTEREST_SPARK_UI", "maybe", ["stream"]),
    ("PINTEREST_SPARK_LOG_LEVEL", "loud", ["stream"]),
    ("PINTEREST_SPARK_DRIVER_JAVA_OPTIONS", "Xmx2g", ["stream"]),
    ("PINTEREST_SPARK_MASTER_PORT", "0", ["stack", "up", "--cluster"]),
    ("PINTEREST_SPARK_WORKER_MEMORY", "3", ["stack", "status"]),
    ("JAVA_HOME", "/nonexistent", ["clean", "--entity", "pin", "in.jsonl", "out.jsonl"]),
    ("JAVA_HOME", "/nonexistent", ["stream"]),
    ("PINTEREST_KAFKA_SECURITY_PROTOCOL", "TLS", ["stack", "status"]),
    ("PINTEREST_KAFKA_SASL_MECHANISM", "GSSAPI", ["stream"]),
    ("PINTEREST_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem", ["stack", "status"]),
]


def test_sasl_without_credentials_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "PINTEREST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PINTEREST_HOME": str(tmp_path)}
    for name in ("PINTEREST_KAFKA_SASL_USERNAME", "PINTEREST_KAFKA_SASL_PASSWORD"):
        env.pop(name, None)
    done = run(["stack", "status"], env, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert ("PINTEREST_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs PINTEREST_KAFKA_SASL_USERNAME and "
            "PINTEREST_KAFKA_SASL_PASSWORD") in done.stderr


def run(args, env, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PINTEREST, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("variable,value,args", BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_a_bad_variable_is_one_line_and_exit_2(variable, value, args, tmp_path):
    env = {**os.environ, variable: value, "PINTEREST_HOME": str(tmp_path)}
    (tmp_path / "in.jsonl").write_text('{"index": 1, "unique_id": "x"}\n')
    done = run(args, env, cwd=tmp_path)
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


def test_the_spark_settings_reach_the_session_conf(monkeypatch, tmp_path):
    from pinterest_assets.resources.spark_session import spark_conf
    from pinterest_assets.settings import get_settings

    monkeypatch.setenv("PINTEREST_SPARK_SHUFFLE_PARTITIONS", "7")
    monkeypatch.setenv("PINTEREST_SPARK_DRIVER_MEMORY", "512m")
    monkeypatch.setenv("PINTEREST_SPARK_UI", "yes")
    monkeypatch.setenv("PINTEREST_SPARK_MASTER", "spark://127.0.0.1:7077")
    monkeypatch.setenv("PINTEREST_SPARK_EXECUTOR_MEMORY", "1g")
    monkeypatch.setenv("PINTEREST_SPARK_CORES_MAX", "3")
    monkeypatch.setenv("PINTEREST_SPARK_DRIVER_JAVA_OPTIONS", "-Xms512m")
    monkeypatch.setenv("PINTEREST_SPARK_LOG_LEVEL", "info")
    settings = get_settings()
    conf = spark_conf(settings)
    assert (conf["spark.sql.shuffle.partitions"], conf["spark.driver.memory"], conf["spark.ui.enabled"]) == (
        "7", "512m", "true")
    assert (conf["spark.master"], conf["spark.executor.memory"], conf["spark.cores.max"]) == (
        "spark://127.0.0.1:7077", "1g", "3")
    assert conf["spark.driver.extraJavaOptions"].endswith(" -Xms512m")
    assert settings.spark_log_level == "INFO"


def test_an_exported_dagster_home_wins_over_the_project_env_file(tmp_path):
    """`make setup` writes .env; the dagster CLI loads it over the environment. An exported
    DAGSTER_HOME must still win, and without one the project's instance is the default."""
    from dagster._core.secrets.env_file import get_env_var_dict

    env = {**os.environ, "PINTEREST_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    env.pop("PINTEREST_DAGSTER_PG_URL", None)
    dotenv = run(["stack", "env", "--dotenv"], env)
    assert dotenv.returncode == 0, dotenv.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(dotenv.stdout)
    defaults = get_env_var_dict(str(project))  # what the dagster CLI injects with nothing exported
    assert defaults["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster_home")
    assert defaults["PINTEREST_DAGSTER_PG_URL"].endswith("/dagster")

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = str(Path(sys.executable).parent / "dagster")
    done = subprocess.run([dagster, "instance", "info"], cwd=project, env={**env, "DAGSTER_HOME": str(mine)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"$DAGSTER_HOME: {mine}\n" in done.stdout, done.stdout
