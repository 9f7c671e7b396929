"""The dbt project's sources are the registry's tables: a new entity or a renamed table that the
dbt sources do not follow fails here, not in a dbt run."""

from __future__ import annotations

from pathlib import Path

import yaml

from pinterest_assets import entities as registry

ANALYTICS = Path(__file__).resolve().parents[2] / "analytics"


def test_the_dbt_sources_are_the_registrys_tables_in_its_schema():
    sources = yaml.safe_load((ANALYTICS / "models" / "staging" / "_sources.yml").read_text())["sources"]
    project = yaml.safe_load((ANALYTICS / "dbt_project.yml").read_text())
    assert [s["name"] for s in sources] == [registry.SCHEMA]
    assert project["vars"]["source_schema"] == registry.SCHEMA
    tables = {t["name"] for t in sources[0]["tables"]}
    assert tables == {e.table_asset for e in registry.ENTITIES.values()}
