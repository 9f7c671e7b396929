"""`pinterest dev` (`make dev`): the whole thing running, for poking at the Dagster UI.

Stack + ingestion API + a continuous emulator + Dagster webserver (127.0.0.1:3000) and daemon,
with `kafka_new_events_sensor` switched on. Ctrl-C stops everything it started (the stack only
if it was not running before).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click


@click.command()
@click.option("--port", default=3000, show_default=True, help="Dagster webserver port")
@click.option("--rate", default=20.0, show_default=True, help="emulator events per second")
@click.option("--airflow", "with_airflow", is_flag=True, help="also run Airflow standalone (port 8080)")
def dev(port: int, rate: float, with_airflow: bool):
    """Stack, API, emulator and Dagster (webserver + daemon, sensor on) until Ctrl-C."""
    from pinterest_assets.demo import start_api
    from pinterest_assets.settings import get_settings, project_root
    from pinterest_assets.stack import StackError, common, manager
    from pinterest_assets.stack.dagster_home import dagster_env, prepare_dagster_home

    settings = get_settings()
    root = project_root()
    logs = settings.home / "dev" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    was_running = {k for k, v in manager.status(settings)["services"].items() if v["running"]}
    procs: list[tuple[str, subprocess.Popen]] = []

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt

    # SIGTERM (and SIGINT even when started in the background) stop everything, like Ctrl-C
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    try:
        manager.up(settings, echo=lambda m: click.echo(m, err=True))
        prepare_dagster_home(settings)
        env = {**os.environ, **dagster_env(settings), "PINTEREST_DAGSTER_URL": f"http://127.0.0.1:{port}"}
        os.environ.update(env)
        procs.append(("api", start_api(settings, settings.home / "dev")))
        procs.append(("emulator", common.spawn(
            [sys.executable, "-m", "pinterest_assets.cli", "emulate", "--rate", str(rate), "--no-progress",
             "--url", settings.api_base_url], logs / "emulator.log", env=env)))
        # Dagster processes run from the log folder, not the repository: the repository's .env
        # (written by `make setup` for the default ports) must not override this stack's settings.
        workspace = str(root / "workspace.yaml")
        procs.append(("dagster-webserver", common.spawn(
            [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(port)],
            logs / "webserver.log", cwd=logs, env=env)))
        procs.append(("dagster-daemon", common.spawn(
            [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], logs / "daemon.log", cwd=logs, env=env)))
        subprocess.run([str(bin_dir / "dagster"), "sensor", "start", "kafka_new_events_sensor", "-w", workspace],
                       cwd=logs, env=env, capture_output=True, timeout=120)
        if with_airflow:
            airflow_env = {**env, "AIRFLOW_HOME": str(settings.home / "airflow"),
                           "AIRFLOW__CORE__DAGS_FOLDER": str(root / "airflow_bridge" / "dags"),
                           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
            procs.append(("airflow", common.spawn([str(bin_dir / "airflow"), "standalone"],
                                                  logs / "airflow.log", env=airflow_env)))
        click.echo(f"\nDagster UI: http://127.0.0.1:{port}   API: {settings.api_base_url}/docs   logs: {logs}")
        click.echo("Emulating events; the sensor lands them. Ctrl-C to stop everything.\n")
        while all(p.poll() is None for _, p in procs):
            time.sleep(1)
        dead = [name for name, p in procs if p.poll() is not None]
        raise click.ClickException(f"{', '.join(dead)} exited; see {logs}")
    except KeyboardInterrupt:
        click.echo("stopping…", err=True)
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for name, proc in reversed(procs):
            if proc.poll() is None:
                common.terminate(proc.pid, timeout=20)
        if not was_running:
            manager.down(settings, echo=lambda m: click.echo(m, err=True))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
