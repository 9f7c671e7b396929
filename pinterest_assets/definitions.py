"""The code location: builds the Definitions (env-aware, lazy: nothing reads the environment or
starts Spark at import time; resources are configured when Dagster builds them)."""

from __future__ import annotations

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions()
