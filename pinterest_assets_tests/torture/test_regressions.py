"""Violations `make torture` found, each as a named test of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinterest_assets.assets.raw import LandingRefused, land_topic, landed_files

pytestmark = pytest.mark.integration


@pytest.mark.xfail(strict=True, reason="issue 24, found by make torture: the landing checks file names only, "
                   "so a raw file truncated mid-line (lost lines, a broken last line) goes unnoticed")
def test_a_raw_file_truncated_mid_line_fails_the_next_landing(kafka, file_lake, produce, topics):
    users = [{"ind": i, "first_name": f"F{i}", "last_name": "L", "age": 30} for i in range(6)]
    produce(topics["user"], users, key=lambda u: str(u["ind"]), partition=0)
    land_topic(kafka, file_lake, "user")
    (landed,) = [f for f in landed_files(file_lake, "user") if f.partition == 0]
    path = Path(file_lake.uri_of(landed.relpath).removeprefix("file://"))
    text = path.read_bytes()
    path.write_bytes(text[: len(text) // 2])  # mid-line: the later records are gone
    with pytest.raises(LandingRefused):
        land_topic(kafka, file_lake, "user")
