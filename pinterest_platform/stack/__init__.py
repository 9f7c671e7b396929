"""The local stack: Kafka (KRaft), PostgreSQL and an S3 API server, started from jars and wheels.

Nothing on PyPI starts a Kafka broker, so this package does, with the same care for all three:
each service is started once (a second ``up`` finds it running), recorded by PID in
``<home>/stack/state.json``, stopped by exactly that PID, and keeps its data across restarts.
"""

from pinterest_platform.stack.common import StackError
from pinterest_platform.stack.manager import down, status, up

__all__ = ["StackError", "up", "down", "status"]
