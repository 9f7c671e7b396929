"""Options of the torture harness (``make torture``).

``--torture-seed N`` replays one schedule (what a failure prints); ``--torture-seeds a,b,c``
runs a fixed set; ``--torture-duration 30m`` runs new seeds until the time is up;
``--torture-open`` also draws the known open bug classes (values.OPEN_CLASSES), which the fixed
seeds of ``make test`` leave out until their fixes land; ``--torture-report PATH`` writes the figures.
"""

from __future__ import annotations

FIXED_SEEDS = "1"


def pytest_addoption(parser):
    group = parser.getgroup("torture")
    group.addoption("--torture-seed", default=None, help="replay this one seed")
    group.addoption("--torture-seeds", default=FIXED_SEEDS, help="comma-separated seeds (the fixed set)")
    group.addoption("--torture-duration", default=None, help="run new seeds until this much time passed: 90s, 30m, 1h")
    group.addoption("--torture-steps", default="8", help="steps per schedule (Hypothesis stateful_step_count)")
    group.addoption("--torture-examples", default="3",
                    help="schedules per seed (Hypothesis's first two are its simplest: one rule repeated, then none)")
    group.addoption("--torture-open", default="", help="comma-separated known open classes to draw too, or 'all'")
    group.addoption("--torture-no-shrink", action="store_true", help="report the first failing schedule as drawn")
    group.addoption("--torture-report", default=None, help="write the figures (JSON) here")

