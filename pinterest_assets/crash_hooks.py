"""Test-only crash hooks: the product calls :func:`crash_point` by name at the steps a crash test
targets; with ``PINTEREST_TEST_CRASH_AT=<step>`` in the environment the process SIGKILLs itself
there, as a crash would. Without that variable every call is a no-op."""

import os
import signal
import sys

CRASH_ENV = "PINTEREST_TEST_CRASH_AT"


def crash_point(step: str) -> None:
    """SIGKILL this process here when ``PINTEREST_TEST_CRASH_AT`` names `step`."""
    if os.environ.get(CRASH_ENV) == step:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
