"""Running Airflow from the tests: its own venv (.venv-airflow, built by `make setup`), while pytest
runs in the main venv. Everything that needs Airflow goes through `airflow_probe.py`, the `airflow`
CLI or `airflow standalone`, started from the Airflow venv in a temp AIRFLOW_HOME with this
project's DAG folder. The stdlib-only bridge logic (`pinterest_bridge.dagster_runs`) is imported
in the main venv directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pinterest_assets.settings import project_root

ROOT = project_root()
DAGS_FOLDER = ROOT / "airflow_bridge" / "dags"
WRAPPER_BIN = ROOT / "airflow_bridge" / "bin"
AIRFLOW_VENV = Path(os.environ.get("PINTEREST_AIRFLOW_VENV") or ROOT / ".venv-airflow")
AIRFLOW_PYTHON = AIRFLOW_VENV / "bin" / "python"
PROBE = Path(__file__).with_name("airflow_probe.py")
RESULT_MARK = "AIRFLOW_PROBE_RESULT "

if str(DAGS_FOLDER) not in sys.path:  # pinterest_bridge is stdlib-only: importable here too
    sys.path.insert(0, str(DAGS_FOLDER))


def airflow_base_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for Airflow processes: its venv first on PATH, a temp home, our DAG folder,
    none of the main venv's variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRFLOW") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update({
        "PATH": os.pathsep.join([str(WRAPPER_BIN), str(AIRFLOW_VENV / "bin"), env.get("PATH", os.defpath)]),
        "PINTEREST_AIRFLOW_VENV": str(AIRFLOW_VENV),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    })
    env.update(extra)
    return env


def run_probe(env: dict[str, str], *args: str, timeout: float = 300) -> tuple[dict, str]:
    """Run airflow_probe.py in the Airflow venv; returns (its JSON result, all of its output).
    The output also goes to AIRFLOW_HOME/probe-<command>.log, so a timeout still leaves it to read."""
    log = Path(env["AIRFLOW_HOME"]) / f"probe-{args[0]}.log"
    with open(log, "w") as out:
        try:
            proc = subprocess.run([str(AIRFLOW_PYTHON), str(PROBE), *args], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=env["AIRFLOW_HOME"])
        except subprocess.TimeoutExpired:
            raise AssertionError(f"airflow_probe {' '.join(args)} still running after {timeout:.0f}s; "
                                 f"its output ({log}):\n{log.read_text()[-6000:]}") from None
    output = log.read_text()
    results = [line[len(RESULT_MARK):] for line in output.splitlines() if line.startswith(RESULT_MARK)]
    assert proc.returncode == 0 and results, f"airflow_probe {' '.join(args)} failed ({proc.returncode}):\n{output[-6000:]}"
    return json.loads(results[-1]), output
