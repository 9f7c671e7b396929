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
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "java"] if java_home else []
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise StackError("Java not found: install a JDK 17+ (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME")


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


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    except psutil.NoSuchProcess:
        pass
