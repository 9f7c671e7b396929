"""The analysis layer as the Dagster UI shows it, over the real webserver's GraphQL API: the lineage
topic -> raw -> cleaned -> table -> staging -> mart -> report, dbt tests as asset checks, the
freshness policies, the automation condition and its sensor."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pinterest_assets.report import MARTS

# dbt build (or the webserver) in the setup: slow on a loaded 2-core machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

QUERY = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    groupName
    automationCondition { label }
    internalFreshnessPolicy {
      __typename
      ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds timezone }
      ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds }
    }
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection { nodes { name sensors { name sensorState { status } } } }
  }
}
"""


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def ui(dagster_server) -> dict:
    data = graphql(dagster_server, QUERY)
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    sensors = {s["name"]: s["sensorState"]["status"]
               for repo in data["repositoriesOrError"]["nodes"] for s in repo["sensors"]}
    return {"nodes": nodes, "sensors": sensors}


def parents(ui, key: str) -> set[str]:
    return {"/".join(d["path"]) for d in ui["nodes"][key]["dependencyKeys"]}


def test_lineage_runs_from_the_topic_through_the_tables_to_the_marts_and_the_report(ui):
    for entity, staging in (("pin", "stg_pins"), ("geo", "stg_geolocations"), ("user", "stg_users")):
        assert parents(ui, f"raw_{entity}") == {f"kafka_pinterest_{entity}"}
        assert parents(ui, f"cleaned_{entity}") == {f"raw_{entity}"}
        assert parents(ui, f"{entity}_table") == {f"cleaned_{entity}"}
        assert parents(ui, staging) == {f"{entity}_table"}
    assert parents(ui, "stg_pin_geo_user") == {"stg_pins", "stg_geolocations", "stg_users"}
    assert parents(ui, "users_joined_by_year") == {"stg_users"}
    assert parents(ui, "category_by_year") == {"posts_by_category_and_year"}
    assert parents(ui, "top_country_overall") == {"top_user_by_country"}
    for mart in set(MARTS) - {"users_joined_by_year", "category_by_year", "top_country_overall"}:
        assert "stg_pin_geo_user" in parents(ui, mart), mart
    assert parents(ui, "analytics_report") == set(MARTS)
    for key in (*MARTS, "stg_pins", "analytics_report"):
        assert ui["nodes"][key]["groupName"] == "analytics"


def test_dbt_tests_are_asset_checks_in_the_ui(ui):
    def checks(key):
        node = ui["nodes"][key]["assetChecksOrError"]
        assert node["__typename"] == "AssetChecks"
        return {c["name"] for c in node["checks"]}

    assert {"unique_category_by_country_country_category", "not_null_category_by_country_category"} \
        <= checks("category_by_country")
    assert any(n.startswith("ties_are_rows_category_by_country") for n in checks("category_by_country"))
    assert any(n.startswith("accepted_values_category_by_country_category") for n in checks("category_by_country"))
    assert any(n.startswith("accepted_values_category_by_age_group_age_group") for n in checks("category_by_age_group"))
    assert any(n.startswith("relationships_top_user_by_country_country") for n in checks("top_user_by_country"))
    assert "top_country_overall_lists_every_tied_top_country" in checks("top_country_overall")
    assert "unique_stg_pins_unique_id" in checks("stg_pins")


def test_freshness_policies_and_the_automation_that_refreshes_the_marts(ui):
    nodes = ui["nodes"]
    stream = nodes["pin_stream"]["internalFreshnessPolicy"]
    assert stream["__typename"] == "TimeWindowFreshnessPolicy"
    # fresh within a minute (Dagster's smallest window): `pinterest stream` reports every 15 s
    assert (stream["warnWindowSeconds"], stream["failWindowSeconds"]) == (None, 60)
    for key in ("pin_table", "geo_table", "user_table", "stg_pins", *MARTS, "analytics_report"):
        policy = nodes[key]["internalFreshnessPolicy"]
        assert policy == {"__typename": "CronFreshnessPolicy", "deadlineCron": "0 1 * * *",
                          "lowerBoundDeltaSeconds": 3600, "timezone": "UTC"}, key
    for key in ("stg_pins", *MARTS, "analytics_report"):
        assert nodes[key]["automationCondition"]["label"] == "after_upstream_update", key
    assert nodes["pin_table"]["automationCondition"] is None  # the daily job (Airflow) loads the tables
    assert ui["sensors"]["analytics_automation_sensor"] == "RUNNING"
