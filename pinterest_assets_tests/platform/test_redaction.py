"""No command prints the Postgres password; `stack env` still exports it for the tools it feeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pinterest_assets.redaction import redact_dsn

SECRET = "hunter2-s3cret"
DSN = f"postgresql://analyst:{SECRET}@db.example:5432/pinterest"


def pinterest(args: list[str], tmp_path, dsn: str = DSN) -> subprocess.CompletedProcess:
    env = {**os.environ, "PINTEREST_HOME": str(tmp_path), "PINTEREST_PG_DSN": dsn}
    env.pop("PINTEREST_PG_PASSWORD", None)
    return subprocess.run([sys.executable, "-m", "pinterest_platform.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_stack_status_never_prints_the_password(tmp_path):
    text = pinterest(["stack", "status"], tmp_path)
    as_json = pinterest(["stack", "status", "--json"], tmp_path)
    assert text.returncode == 0 and as_json.returncode == 0, text.stderr + as_json.stderr
    for done in (text, as_json):
        assert SECRET not in done.stdout + done.stderr
    assert json.loads(as_json.stdout)["postgres_dsn"] == "postgresql://analyst:***@db.example:5432/pinterest"
    assert "postgresql://analyst:***@db.example:5432/pinterest" in text.stdout


def test_stack_env_still_exports_the_dsn_whole(tmp_path):
    done = pinterest(["stack", "env"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"export PINTEREST_PG_DSN='{DSN}'" in done.stdout


def test_a_refused_dsn_is_named_without_its_password(tmp_path):
    done = pinterest(["stack", "status"], tmp_path, dsn=f"mysql://analyst:{SECRET}@db.example/pinterest")
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr
    assert "PINTEREST_PG_DSN='mysql://analyst:***@db.example/pinterest'" in done.stderr


@pytest.mark.parametrize("dsn,shown", [
    ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
    ("postgres://u:x@h1:1,h2:2/db?sslmode=require&password=zz", "postgres://u:***@h1:1,h2:2/db?sslmode=require&password=***"),
    ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
    ("host=h user=u password=secret dbname=d", "user=u password=*** dbname=d host=h"),
    ("host=h password='unterminated", "<a DSN that does not parse (not shown)>"),
])
def test_redact_dsn(dsn, shown):
    assert redact_dsn(dsn) == shown
