"""Fixtures for the Airflow tests; the helpers they use live in airflow_env.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pinterest_assets_tests.airflow_bridge.airflow_env import AIRFLOW_PYTHON, AIRFLOW_VENV, airflow_base_env


@pytest.fixture(scope="session")
def airflow_venv() -> Path:
    """The Airflow venv; missing means `make setup` was not run (a failure, not a skip)."""
    assert AIRFLOW_PYTHON.exists(), f"no Airflow venv at {AIRFLOW_VENV}: run `make setup`"
    return AIRFLOW_VENV


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, airflow_venv) -> Path:
    return tmp_path_factory.mktemp("airflow_home")


@pytest.fixture(scope="session")
def airflow_db(airflow_home) -> Path:
    """Airflow's metadata database (SQLite in the temp home), needed by dag.test()."""
    proc = subprocess.run([str(AIRFLOW_VENV / "bin" / "airflow"), "db", "migrate"], capture_output=True,
                          text=True, env=airflow_base_env(airflow_home), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return airflow_home
