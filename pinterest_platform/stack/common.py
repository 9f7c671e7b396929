"""Process bookkeeping shared by the service launchers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from pinterest_assets.settings import Settings


class StackError(RuntimeError):
    """A problem a user can fix; the CLI prints it as one line."""


def state_file(settings: Settings) -> Path:
    return settings.home / "stack" / "state.json"


def read_state(settings: Settings) -> dict:
    path = state_file(settings)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def write_state(settings: Settings, state: dict) -> None:
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def record(settings: Settings, service: str, info: dict | None) -> None:
    state = read_state(settings)
    if info is None:
        state.pop(service, None)
    else:
        state[service] = info
    write_state(settings, state)


def process_matches(pid: int | None, marker: str) -> bool:
    """True when `pid` is alive and its command line contains `marker` (guards against PID reuse)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return marker in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_port_free(host: str, port: int, what: str, env_var: str) -> None:
    if port_open(host, port):
        raise StackError(
            f"port {host}:{port} for {what} is already taken by another process: stop it, "
            f"or choose another port with {env_var}=<port>"
        )


def java_executable() -> str:
    from pinterest_assets.resources.spark_session import JavaMissingError, find_java

    try:
        return find_java()
    except JavaMissingError as exc:
        raise StackError(str(exc)) from None


def require_jars(folder: Path, what: str) -> list[Path]:
    jars = sorted(folder.glob("*.jar"))
    if not jars:
        raise StackError(f"{what} jars are missing in {folder}: run `make jars` (needs Maven)")
    return jars


def spawn(cmd: list[str], log_file: Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start a long-running server detached from our process group, output appended to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, env=env, start_new_session=True,
        )


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(check, timeout: float, interval: float = 0.25, alive=None, what: str = "service", log: Path | None = None):
    """Poll `check()` until it returns truthy; fail early if `alive()` says the process died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up; last log lines:\n{tail(log) if log else ''}")
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        time.sleep(interval)
    raise StackError(f"{what} did not become ready within {timeout:.0f}s ({last_error}); see {log}")


def wait_gone(proc: psutil.Process, timeout: float) -> bool:
    """Wait until `proc` has exited: reaped (our child), gone, or a zombie of another parent
    (which only its parent can reap: it no longer runs, so it counts as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(0.2)
            return True
        except psutil.TimeoutExpired:
            pass
        except psutil.NoSuchProcess:
            return True
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        return
    if wait_gone(proc, timeout):
        return
    try:
        proc.kill()
    except psutil.NoSuchProcess:
        return
    wait_gone(proc, 10)


def become_subreaper() -> bool:
    """Make this process the "subreaper" of everything it starts (Linux ``PR_SET_CHILD_SUBREAPER``):
    a descendant whose parent dies first (a Dagster run worker whose code server stopped, that
    worker's Spark JVM) is re-parented here instead of to init, so a shutdown still finds it.
    Returns False where the call is not available."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # 36 = PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def stop_descendants(keep: set[int] = frozenset(), timeout: float = 10.0) -> list[str]:
    """SIGTERM, then SIGKILL, every process still under this one, except the processes in `keep`
    and their trees (the stack's servers). Repeats while new ones appear (an orphan re-parented
    here mid-sweep). Returns a line per process stopped."""
    me = psutil.Process()
    stopped: list[str] = []
    for _ in range(5):
        kept: set[int] = set()
        for pid in keep:
            try:
                kept |= {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
            except psutil.NoSuchProcess:
                continue
        victims = [p for p in me.children(recursive=True) if p.pid not in kept]
        if not victims:
            break
        for proc in victims:
            try:
                stopped.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
            except psutil.NoSuchProcess:
                continue
        term_then_kill(victims, timeout)
    return stopped


def term_then_kill(procs: list[psutil.Process], timeout: float = 10.0) -> None:
    """SIGTERM each process, wait up to `timeout` seconds, SIGKILL what is left, reap."""
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)


def terminate_tree(pid: int, timeout: float = 30.0) -> None:
    """Stop a process and every process under it (a webserver's code server, a daemon's run
    workers and their Spark JVMs): SIGTERM the top, then what is left of the tree, then SIGKILL."""
    try:
        top = psutil.Process(pid)
        tree = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    try:
        top.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        pass
    _, alive = psutil.wait_procs([top], timeout=timeout)
    for proc in tree:
        try:
            tree.extend(c for c in proc.children(recursive=True) if c not in tree)
        except psutil.NoSuchProcess:
            continue
    term_then_kill([p for p in tree if p.is_running()], timeout=10)
