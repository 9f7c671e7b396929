"""Crashes of the test stack's servers, shared by the fault tests and the torture harness."""

from __future__ import annotations

import os
import signal


def sigkill_kafka(settings) -> None:
    """SIGKILL the broker (its pid from the stack state) and reap it; restart with `kafka.start`."""
    from pinterest_platform.stack import common

    pid = common.read_state(settings)["kafka"]["pid"]
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # the broker is a child of this session: reap it
    except ChildProcessError:
        pass
