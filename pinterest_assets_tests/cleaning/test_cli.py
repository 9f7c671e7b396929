"""`pinterest clean` on real files: outputs, rejects with line numbers, last line wins, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from pinterest_platform.clean_cli import clean

UID = "fbe53c66-3442-4773-b19e-d3ec6f54dddf"


def _write_jsonl(path: Path, items) -> Path:
    path.write_text(
        "".join((i if isinstance(i, str) else json.dumps(i, ensure_ascii=False)) + "\n" for i in items),
        encoding="utf-8",
    )
    return path


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_clean_pins_file(spark, tmp_path):
    source = _write_jsonl(tmp_path / "pins.jsonl", [
        {"index": 7528, "unique_id": UID, "title": "No Title Data Available", "follower_count": "User Info Error",
         "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", "downloaded": 0},
        "this is not json",
        {"index": "x", "unique_id": UID},
        "",
        {"index": 7528, "unique_id": UID.upper(), "title": "Café\u00a0crème ♔", "follower_count": "2.5M",
         "tag_list": "#,t,r,a,v,e,l", "downloaded": "true", "is_image_or_video": "video"},
        {"index": 1, "unique_id": "00000000-0000-4000-8000-000000000001", "follower_count": "1,234",
         "tag_list": "#diy, crafts,#diy"},
        "[1, 2, 3]",
    ])
    out, rejects = tmp_path / "clean.jsonl", tmp_path / "rejects.jsonl"
    result = CliRunner().invoke(clean, ["--entity", "pin", str(source), str(out), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert _read_jsonl(out) == [
        # the later line of the duplicated key wins, and output follows input order
        {"ind": 7528, "unique_id": UID, "title": "Café crème ♔", "description": None, "poster_name": None,
         "follower_count": 2500000, "tag_list": ["travel"], "is_image_or_video": "video", "image_src": None,
         "downloaded": True, "save_location": None, "category": None},
        {"ind": 1, "unique_id": "00000000-0000-4000-8000-000000000001", "title": None, "description": None,
         "poster_name": None, "follower_count": 1234, "tag_list": ["diy", "crafts"], "is_image_or_video": None,
         "image_src": None, "downloaded": None, "save_location": None, "category": None},
    ]
    assert _read_jsonl(rejects) == [
        {"line": 2, "reason": "malformed_json", "raw": "this is not json"},
        {"line": 3, "reason": "invalid_ind", "raw": json.dumps({"index": "x", "unique_id": UID})},
        {"line": 7, "reason": "malformed_json", "raw": "[1, 2, 3]"},
    ]
    assert "6 rows in, 2 clean rows" in result.stderr
    assert "1 older duplicates dropped" in result.stderr
    assert "invalid_ind 1, malformed_json 2" in result.stderr
    assert result.stdout == ""


def test_clean_geo_and_user_files(spark, tmp_path):
    geo = _write_jsonl(tmp_path / "geo.jsonl", [
        {"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293,
         "country": "Albania"},
        {"ind": "  9 ", "timestamp": "2021-01-01T01:00:00.5+01:00", "latitude": "95", "longitude": "10",
         "country": " Holy See (Vatican City State)\u00a0"},
    ])
    out = tmp_path / "geo-clean.jsonl"
    result = CliRunner().invoke(clean, ["--entity", "geo", str(geo), str(out)])
    assert result.exit_code == 0, result.output
    assert _read_jsonl(out) == [
        {"ind": 7528, "timestamp": "2020-08-28T03:52:47Z", "latitude": -89.9787, "longitude": -173.293,
         "country": "Albania"},
        {"ind": 9, "timestamp": "2021-01-01T00:00:00.500000Z", "latitude": None, "longitude": 10.0,
         "country": "Holy See (Vatican City State)"},
    ]

    users = _write_jsonl(tmp_path / "user.jsonl", [
        {"ind": 2418, "first_name": "Christopher", "last_name": "Bell", "age": 20, "date_joined": "2015-12-25 23:44:05"},
        {"ind": 2418, "first_name": "Chris", "last_name": "Bell", "age": "21", "date_joined": "2016-01-01T00:00:00Z"},
        {"ind": None, "first_name": "Nobody"},
    ])
    out, rejects = tmp_path / "user-clean.jsonl", tmp_path / "user-rejects.jsonl"
    result = CliRunner().invoke(clean, ["--entity", "user", str(users), str(out), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert _read_jsonl(out) == [
        {"ind": 2418, "user_name": "Chris Bell", "age": 21, "date_joined": "2016-01-01T00:00:00Z"},
    ]
    assert [(r["line"], r["reason"]) for r in _read_jsonl(rejects)] == [(3, "invalid_ind")]


def test_unreadable_input_is_a_one_line_error(tmp_path):
    """Through the real console script: non-zero exit, one line naming the file, no traceback."""
    exe = shutil.which("pinterest") or str(Path(sys.executable).with_name("pinterest"))
    missing = tmp_path / "nope.jsonl"
    proc = subprocess.run(
        [exe, "clean", "--entity", "pin", str(missing), str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip() == f"Error: cannot read input file {missing}: No such file or directory"
    assert not (tmp_path / "out.jsonl").exists()

    result = CliRunner().invoke(clean, ["--entity", "pin", str(tmp_path), str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1
    assert "cannot read input file" in result.stderr and "directory" in result.stderr
    assert "Traceback" not in result.output


def test_missing_output_folder_and_bad_entity(tmp_path):
    source = _write_jsonl(tmp_path / "in.jsonl", [{"ind": 1}])
    result = CliRunner().invoke(clean, ["--entity", "geo", str(source), str(tmp_path / "no" / "out.jsonl")])
    assert result.exit_code == 1
    assert "does not exist" in result.stderr

    result = CliRunner().invoke(clean, ["--entity", "board", str(source), str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2
    assert "'board' is not one of 'pin', 'geo', 'user'" in result.stderr
