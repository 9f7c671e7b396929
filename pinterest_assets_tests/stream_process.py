"""`pinterest stream` as a separate process, for the tests that kill it like a crash would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from pinterest_assets.settings import project_root


class StreamProcess:
    """`python -m pinterest_platform.cli stream ...` in its own process group, output collected."""

    def __init__(self, args: list[str], log_path):
        env = {**os.environ, "PINTEREST_SPARK_DRIVER_MEMORY": "1g"}
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "pinterest_platform.cli", "stream", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     cwd=project_root(), start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.log.write(raw)
            self.log.flush()
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return "\n".join(self.lines)

    def kill_hard(self):
        """SIGKILL the whole process group (the Python driver and its Spark JVM), like a crash."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)

    def cleanup(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.log.close()
