"""The synthetic dataset: deterministic, and dirty in the same proportions as the public one."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from click.testing import CliRunner

from pinterest_ingest import datagen
from pinterest_ingest.cli import datagen as datagen_cmd


@pytest.fixture(scope="module")
def dataset():
    return datagen.generate(seed=42)


def share(rows, predicate) -> float:
    return sum(1 for r in rows if predicate(r)) / len(rows)


def test_same_seed_same_dataset_other_seed_other_dataset(dataset):
    assert datagen.generate(seed=42) == dataset
    other = datagen.generate(seed=43)
    assert other["pin"] != dataset["pin"] and other["geo"] != dataset["geo"] and other["user"] != dataset["user"]
    assert datagen.generate_pins(300, seed=1) == datagen.generate_pins(300, seed=1)


def test_default_size_and_one_geo_and_user_row_per_ind(dataset):
    pins, geos, users = dataset["pin"], dataset["geo"], dataset["user"]
    assert len(pins) == 11_154
    inds = [p["index"] for p in pins]
    assert len(set(inds)) == len(inds)
    assert [g["ind"] for g in geos] == inds and [u["ind"] for u in users] == inds
    assert len({p["unique_id"] for p in pins}) == len(pins)
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", p["unique_id"])
               for p in pins)


def test_category_counts_are_the_observed_ones(dataset):
    assert Counter(p["category"] for p in dataset["pin"]) == datagen.CATEGORY_COUNTS
    assert all(p["save_location"] == f"Local save in /data/{p['category']}" for p in dataset["pin"])


@pytest.mark.parametrize("name,predicate,expected,tolerance", [
    ("error rows", lambda p: p["title"] == "No Title Data Available" and p["poster_name"] == "User Info Error"
     and p["follower_count"] == "User Info Error" and p["image_src"] == "Image src error.", 0.008, 0.002),
    ("no description", lambda p: p["description"] == "No description available", 0.016, 0.003),
    ("story posts", lambda p: p["is_image_or_video"] == "multi-video(story page format)", 0.08, 0.01),
    ("videos", lambda p: p["is_image_or_video"] == "video", 0.03, 0.006),
    ("tag placeholder", lambda p: p["tag_list"] == "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", 0.015, 0.003),
    ("image src error", lambda p: p["image_src"] == "Image src error.", 0.029, 0.004),
    ("not downloaded", lambda p: p["downloaded"] == 0, 0.03, 0.005),
    ("hashtag lists", lambda p: p["tag_list"].startswith("#"), 0.05, 0.01),
    ("NBSP descriptions", lambda p: "\u00a0" in p["description"], 0.35, 0.03),
    ("… descriptions", lambda p: p["description"].endswith("…"), 0.35, 0.03),
    ("User Info Error counts", lambda p: p["follower_count"] == "User Info Error", 0.02, 0.005),
])
def test_dirt_rates_within_tolerance(dataset, name, predicate, expected, tolerance):
    assert share(dataset["pin"], predicate) == pytest.approx(expected, abs=tolerance), name


def test_story_posts_have_the_story_description_and_videos_have_video_thumbnails(dataset):
    pins = dataset["pin"]
    stories = [p for p in pins if p["is_image_or_video"] == "multi-video(story page format)"
               and p["title"] != "No Title Data Available"]
    assert stories and all(p["description"] == "No description available Story format" for p in stories)
    videos = [p for p in pins if p["is_image_or_video"] == "video" and p["image_src"] != "Image src error."]
    assert videos and all("/videos/thumbnails/" in p["image_src"] for p in videos)
    images = [p for p in pins if p["image_src"] != "Image src error."]
    assert all(re.fullmatch(r"https://i\.pinimg\.com/.+\.jpg", p["image_src"]) for p in images)


def test_follower_count_shapes(dataset):
    shapes = Counter(re.sub(r"\d", "N", p["follower_count"]) for p in dataset["pin"])
    n = len(dataset["pin"])
    real = 1 - shapes["User Info Error"] / n
    for shape, expected in datagen.FOLLOWER_SHAPES:
        assert shapes[shape] / n == pytest.approx(expected * real, abs=0.015), shape
    assert not any("." in s or "B" in s for s in shapes)


def test_tags_and_titles_carry_real_world_dirt(dataset):
    pins = dataset["pin"]
    tag_counts = [len(p["tag_list"].split(",")) for p in pins if not p["tag_list"].startswith("N,o")]
    assert 8 <= sorted(tag_counts)[len(tag_counts) // 2] <= 10  # ~9 tags a list
    spread = [p for p in pins if re.fullmatch(r"(.,)+.", p["tag_list"]) and not p["tag_list"].startswith("N,o")]
    assert spread, "some character-spread tag lists besides the placeholder"
    titles = [p["title"] for p in pins]
    assert any(re.search("[А-я]", t) for t in titles)
    assert any(re.search("[éèüñï]", t) for t in titles)
    assert any(re.search("[\U0001F300-\U0001FAFF✨❤♔]", t) for t in titles)


def test_geo_rows(dataset):
    from faker.providers.address.en_US import Provider

    geos = dataset["geo"]
    assert all(re.fullmatch(r"20(1[7-9]|2[0-2])-\d\d-\d\d \d\d:\d\d:\d\d", g["timestamp"]) for g in geos)
    assert all(-90 <= g["latitude"] <= 90 and -180 <= g["longitude"] <= 180 for g in geos)
    countries = {g["country"] for g in geos}
    assert 140 <= len(countries) <= 160 and countries <= set(Provider.countries)
    assert min(g["latitude"] for g in geos) < -80 and max(g["longitude"] for g in geos) > 170


def test_user_rows(dataset):
    users = dataset["user"]
    ages = Counter(u["age"] for u in users)
    assert min(ages) == 20 and max(ages) <= 60 and ages.most_common(1)[0][0] == 20
    assert all(re.fullmatch(r"201[5-7]-\d\d-\d\d \d\d:\d\d:\d\d", u["date_joined"]) for u in users)
    assert all(u["first_name"] and u["last_name"] for u in users)
    assert len({u["first_name"] for u in users}) > 200


def test_generate_pins_at_scale_keeps_indexes_and_keys_unique():
    """Speed is the benchmarks' business (bench/); here only what a large run yields."""
    pins = datagen.generate_pins(100_000, seed=9)
    assert [p["index"] for p in pins] == list(range(100_000))
    assert len({p["unique_id"] for p in pins}) == 100_000


def test_datagen_cli_writes_json_lines(tmp_path):
    result = CliRunner().invoke(datagen_cmd, ["--out", str(tmp_path), "--pins", "50", "--seed", "4"])
    assert result.exit_code == 0, result.output
    for entity in ("pin", "geo", "user"):
        lines = (tmp_path / f"{entity}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 50
        assert [json.loads(line) for line in lines] == datagen.generate(50, seed=4)[entity]
