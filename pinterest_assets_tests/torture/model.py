"""The independent model of the torture harness: plain Python, no project cleaning or ordering code.

It records every event the harness sent (entity, partition, offset, key, the cleaned row expected
by construction, the UTC day of its Kafka timestamp) in send order, and predicts what each view
must hold:

* ``<entity>_table`` for day D = for every key with an accepted event of day D that was in Kafka
  when D last ran successfully (and not in a lake range whose loss an operator accepted), the
  newest such event. Newest = sent last (log order: the highest offset in the key's partition;
  after a topic grew, still the version accepted last);
* ``pin_stream`` = every pin key's newest accepted event as of the last stream run, counting only
  records the batch side takes too (one rule: a record is in both views or in neither);
* the dbt staging views = per key the newest row among the daily tables' rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_DAY = "2025-01-01"  # the first daily partition


@dataclass
class Event:
    seq: int
    entity: str
    partition: int
    offset: int
    key: object            # normalised key (str uuid or int), None: the record has no valid key
    row: dict | None       # the cleaned row expected, None: the record is rejected
    day: str | None        # UTC day of the Kafka timestamp; None: before the first partition
    cls: frozenset = frozenset()

    @property
    def taken(self) -> bool:
        """The batch side takes it (and so must the stream)."""
        return self.row is not None and self.key is not None and self.day is not None


@dataclass
class Model:
    events: list[Event] = field(default_factory=list)
    # entity -> day -> key -> Event: what <entity>_table holds for that day
    tables: dict[str, dict[str, dict]] = field(default_factory=lambda: {"pin": {}, "geo": {}, "user": {}})
    stream: dict | None = None  # key -> Event, None before the first stream run
    lost: set = field(default_factory=set)  # (entity, partition, offset) in a lake range lost by accept_loss
    landed: dict = field(default_factory=dict)  # entity -> number of events landed (a prefix of events)

    def record(self, entity, partition, offset, key, row, day, cls=frozenset()) -> Event:
        event = Event(len(self.events), entity, partition, offset, key, row, day, frozenset(cls))
        self.events.append(event)
        return event

    def _newest(self, events) -> dict:
        out: dict = {}
        for e in events:
            if e.key not in out or e.seq > out[e.key].seq:
                out[e.key] = e
        return out

    def _batch(self, entity: str):
        return [e for e in self.events if e.entity == entity and e.taken
                and (e.entity, e.partition, e.offset) not in self.lost]

    def daily_ran(self, entity: str, day: str) -> None:
        self.tables[entity][day] = self._newest(e for e in self._batch(entity) if e.day == day)

    def stream_ran(self) -> None:
        self.stream = self._newest(e for e in self.events if e.entity == "pin" and e.taken)

    def staging(self, entity: str) -> dict:
        rows = [e for day in self.tables[entity].values() for e in day.values()]
        return self._newest(rows)

    def lose(self, entity: str, partition: int, first: int, last: int) -> None:
        for offset in range(first, last + 1):
            self.lost.add((entity, partition, offset))

    def days(self) -> list[str]:
        return sorted({e.day for e in self.events if e.day})


def diff_rows(view: str, expected: dict, actual: dict, columns: tuple[str, ...]) -> list[str]:
    """Violations between the model's rows (key -> Event) and a view's rows
    (key -> (values dict, partition, offset)): lost, extra, stale, wrong value. A view without
    the Kafka position (partition None: the dbt staging views) holds ``_day``, the day its row was
    loaded for: a stale row there has an older day or other values."""
    problems = []
    for key, event in expected.items():
        if key not in actual:
            problems.append(f"{view}: LOST key {key!r} (expected offset {event.partition}/{event.offset})")
            continue
        values, partition, offset = actual[key]
        if partition is None and values.get("_day") != event.day:
            problems.append(f"{view}: STALE key {key!r}: holds the row of day {values.get('_day')}, newest is "
                            f"{event.partition}/{event.offset} of day {event.day}")
            continue
        if partition is not None and (partition, offset) != (event.partition, event.offset):
            problems.append(f"{view}: STALE key {key!r}: holds {partition}/{offset}, newest is "
                            f"{event.partition}/{event.offset}")
            continue
        for column in columns:
            want, got = event.row.get(column), values.get(column)
            if want != got:
                problems.append(f"{view}: WRONG {column} of key {key!r} at {partition}/{offset}: "
                                f"expected {want!r}, holds {got!r}")
    for key in actual.keys() - expected.keys():
        values, partition, offset = actual[key]
        problems.append(f"{view}: EXTRA key {key!r} at {partition}/{offset} (the model has none)")
    return problems
