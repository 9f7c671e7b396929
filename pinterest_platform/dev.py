"""`pinterest dev` (`make dev`): the whole thing running, for poking at the Dagster UI.

Stack + ingestion API + a continuous emulator + Dagster webserver (127.0.0.1:3000) and daemon,
with `kafka_new_events_sensor` switched on. Ctrl-C, SIGTERM to it or SIGTERM to its whole process
group stop everything it started, and only that: each child's whole process tree (the webserver's
code server, the daemon's run workers and their Spark JVMs), runs still in flight are marked
canceled in the instance, the sensor is switched off again if it was off before (the instance is
shared with `make dagster` and any other daemon on this stack, which would otherwise go on landing
from Kafka), and the stack goes down if it was not running before. A second signal
during the shutdown is ignored rather than cutting it short.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click


def airflow_standalone(env: dict[str, str], home: Path, port: int = 8080) -> tuple[list[str], dict[str, str]]:
    """Command and environment for `airflow standalone` from the Airflow venv (.venv-airflow).

    Standalone starts its scheduler, dag-processor, triggerer and api-server by running `airflow`
    from PATH, so the wrapper folder airflow_bridge/bin (which runs the venv's airflow and keeps
    the all-interface log servers off) and the venv's bin/ go first on PATH. Every listener binds
    127.0.0.1: the API server (UI + REST) on `port`, the scheduler health check if enabled."""
    from pinterest_assets.settings import project_root

    root = project_root()
    venv = Path(env.get("PINTEREST_AIRFLOW_VENV") or root / ".venv-airflow")
    if not (venv / "bin" / "airflow").exists():
        raise click.ClickException(f"Airflow is not installed in {venv}: run `make setup` first")
    wrapper = root / "airflow_bridge" / "bin"
    airflow_env = {
        **env,
        "PATH": os.pathsep.join([str(wrapper), str(venv / "bin"), env.get("PATH", os.defpath)]),
        "PINTEREST_AIRFLOW_VENV": str(venv),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "airflow_bridge" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
    }
    airflow_env.pop("VIRTUAL_ENV", None)
    return [str(wrapper / "airflow"), "standalone"], airflow_env


@click.command()
@click.option("--port", default=3000, show_default=True, help="Dagster webserver port")
@click.option("--rate", default=20.0, show_default=True, help="emulator events per second")
@click.option("--airflow", "with_airflow", is_flag=True, help="also run Airflow standalone")
@click.option("--airflow-port", default=8080, show_default=True, help="Airflow UI/REST API port (127.0.0.1)")
def dev(port: int, rate: float, with_airflow: bool, airflow_port: int):
    """Stack, API, emulator and Dagster (webserver + daemon, sensor on) until Ctrl-C."""
    from pinterest_platform.demo import start_api
    from pinterest_assets.settings import get_settings, project_root
    from pinterest_platform.stack import StackError, common, manager
    from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home

    settings = get_settings()
    root = project_root()
    logs = settings.home / "dev" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    was_running = {k for k, v in manager.status(settings)["services"].items() if v["running"]}
    procs: list[tuple[str, subprocess.Popen]] = []
    sensor_was_running: bool | None = None  # None: dev never got as far as switching it on

    def stop_on_signal(signum, frame):
        # the first signal starts the shutdown; later ones (a process group gets one per member,
        # an impatient user presses Ctrl-C twice) must not interrupt it half-way
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    # SIGTERM (and SIGINT even when started in the background) stop everything, like Ctrl-C
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    common.become_subreaper()  # a run worker orphaned by its code server's exit still comes back here
    try:
        manager.up(settings, echo=lambda m: click.echo(m, err=True))
        prepare_dagster_home(settings)
        env = {**os.environ, **dagster_env(settings), "PINTEREST_DAGSTER_URL": f"http://127.0.0.1:{port}"}
        os.environ.update(env)
        procs.append(("api", start_api(settings, settings.home / "dev")))
        procs.append(("emulator", common.spawn(
            [sys.executable, "-m", "pinterest_platform.cli", "emulate", "--rate", str(rate), "--no-progress",
             "--url", settings.api_base_url], logs / "emulator.log", env=env)))
        # Dagster processes run from the log folder, not the repository: the repository's .env
        # (written by `make setup` for the default ports) must not override this stack's settings.
        workspace = str(root / "workspace.yaml")
        procs.append(("dagster-webserver", common.spawn(
            [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(port)],
            logs / "webserver.log", cwd=logs, env=env)))
        procs.append(("dagster-daemon", common.spawn(
            [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], logs / "daemon.log", cwd=logs, env=env)))
        sensor_was_running = sensor_running(SENSOR)
        subprocess.run([str(bin_dir / "dagster"), "sensor", "start", SENSOR, "-w", workspace],
                       cwd=logs, env=env, capture_output=True, timeout=120)
        if with_airflow:
            command, airflow_env = airflow_standalone(env, settings.home / "airflow", port=airflow_port)
            procs.append(("airflow", common.spawn(command, logs / "airflow.log", env=airflow_env)))
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
        _shut_down(settings, procs, sensor_was_running, was_running)


def _shut_down(settings, procs: list, sensor_was_running: bool | None, was_running: set) -> None:
    """Stop what dev started (its processes, leftovers under it, its runs and sensor, the stack
    when dev brought it up), then restore the default signal handlers."""
    from pinterest_platform.stack import common, manager

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    for name, proc in reversed(procs):
        if proc.poll() is None:
            common.terminate_tree(proc.pid, timeout=20)
        proc.wait(timeout=30)  # reap: no zombie left behind
    # whatever is left under us: a run launched during the shutdown, an orphaned run worker
    # or Spark JVM. The stack's servers stay (they go down below if dev started them).
    stack_pids = {info["pid"] for info in manager.status(settings)["services"].values() if info.get("pid")}
    for line in common.stop_descendants(keep=stack_pids):
        click.echo(f"stopped leftover process {line}", err=True)
    if any(name.startswith("dagster") for name, _ in procs):
        cancel_unfinished_runs(echo=lambda m: click.echo(m, err=True))
        if sensor_was_running is False:
            # dev switched the sensor on in the instance it shares with `make dagster` and any
            # other daemon on this stack: switch it off again, or that daemon would keep landing
            stop_sensor(SENSOR, echo=lambda m: click.echo(m, err=True))
    if not was_running:
        manager.down(settings, echo=lambda m: click.echo(m, err=True))
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


SENSOR = "kafka_new_events_sensor"


def _sensor_states(name: str):
    import dagster as dg
    from dagster._core.definitions.run_request import InstigatorType

    instance = dg.DagsterInstance.get()
    return instance, [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                      if s.name == name]


def sensor_running(name: str) -> bool:
    """Whether the instance has the sensor switched on (its code default is stopped)."""
    from dagster._core.scheduler.instigation import InstigatorStatus

    instance, states = _sensor_states(name)
    with instance:
        return any(s.status == InstigatorStatus.RUNNING for s in states)


def stop_sensor(name: str, echo) -> None:
    """Switch the sensor off in the instance storage (its cursor stays)."""
    from dagster._core.scheduler.instigation import InstigatorStatus

    try:
        instance, states = _sensor_states(name)
        with instance:
            for state in states:
                if state.status == InstigatorStatus.RUNNING:
                    instance.update_instigator_state(state.with_status(InstigatorStatus.STOPPED))
                    echo(f"{name} switched off again (it was off before pinterest dev)")
    except Exception as exc:  # noqa: BLE001 - the stack may already be gone; say so, don't crash the shutdown
        echo(f"could not switch {name} off: {exc}")


def unfinished_runs(instance) -> list:
    """Runs of the instance that are queued, starting, running or being canceled."""
    import dagster as dg

    return instance.get_runs(filters=dg.RunsFilter(statuses=[
        dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]))


def cancel_unfinished_runs(echo) -> None:
    """Runs the stopped daemon left queued or started are marked canceled, not left "started"."""
    import dagster as dg

    try:
        with dg.DagsterInstance.get() as instance:
            unfinished = unfinished_runs(instance)
            for run in unfinished:
                instance.report_run_canceled(run, message="pinterest dev stopped: the run was interrupted")
                echo(f"run {run.run_id} ({run.job_name}) marked canceled")
    except Exception as exc:  # noqa: BLE001 - the stack may already be gone; say so, don't crash the shutdown
        echo(f"could not mark in-flight runs canceled: {exc}")
