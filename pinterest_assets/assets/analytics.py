"""The analysis layer: the dbt project in ``analytics/`` as Dagster assets, and the HTML report.

dbt sources ``pinterest.<e>_table`` map onto the registry's ``<e>_table`` assets; the marts refresh
by declarative automation (:data:`AFTER_TABLES_UPDATE`), not inside ``daily_batch_job``; freshness
by :func:`with_freshness`. Why: docs/decisions.md, "Module notes out of the docstrings".
"""


import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pinterest_assets import entities as registry
from pinterest_assets.report import MARTS
from pinterest_assets.resources.postgres import PostgresResource
from pinterest_assets.settings import project_root

GROUP = "analytics"
DBT_PROJECT_DIR = project_root() / "analytics"
REPORT_ASSET = "analytics_report"

# Freshness: the daily run starts at 00:00 UTC; its tables and everything built on them are due by 01:00.
DAILY_DEADLINE = dg.FreshnessPolicy.cron(deadline_cron="0 1 * * *", lower_bound_delta=timedelta(hours=1),
                                         timezone="UTC")
# pin_stream: a running `pinterest stream` reports it every 15 s (pinterest_platform/stream_report.py),
# so it FAILs one minute (Dagster's smallest window) after the stream stops; without a running
# stream, the ingest sensor's runs materialize it within 30 s of a new message.
PIN_STREAM_FAIL_AFTER = timedelta(minutes=1)
PIN_STREAM_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=PIN_STREAM_FAIL_AFTER)

AFTER_TABLES_UPDATE = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after_upstream_update")


# -------------------------------------------------------------------------------- the dbt project
def _project_files(project_dir: Path) -> Iterator[Path]:
    for name in ("dbt_project.yml", "profiles.yml"):
        yield project_dir / name
    for folder in ("models", "macros", "tests"):
        yield from (p for p in (project_dir / folder).rglob("*") if p.is_file())


def manifest_is_stale(project: DbtProject, dbname: str | None = None) -> bool:
    """Missing, older than a project file, or parsed for another database (the manifest names
    each relation ``"<db>"."<schema>"."<table>"``, and dagster-dbt counts rows through those names)."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    if any(p.stat().st_mtime > built for p in _project_files(Path(project.project_dir))):
        return True
    if dbname:
        import json

        nodes = json.loads(manifest.read_text()).get("nodes", {}).values()
        return any(n.get("resource_type") == "model" and n.get("database") != dbname for n in nodes)
    return False


def dbt_executable() -> str:
    """dbt from this interpreter's environment (the venv's bin need not be on PATH)."""
    return str(Path(sys.executable).parent / "dbt")


def ensure_manifest(project: DbtProject) -> None:
    """`dbt parse` when the manifest is stale (:func:`manifest_is_stale`): on a fresh clone, after
    an edit, for another database; under `dagster dev` or not (dagster-dbt's `prepare_if_dev` only
    acts under `dagster dev`). Parsing renders the profile but never connects to the database."""
    from psycopg.conninfo import conninfo_to_dict

    from pinterest_assets.settings import get_settings

    dsn = get_settings().postgres_dsn
    if manifest_is_stale(project, conninfo_to_dict(dsn).get("dbname")):
        with dbt_environment(dsn):
            run_with_concurrent_update_guard(project.manifest_path, _parse, project=project)


def _parse(project: DbtProject) -> None:
    (DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
     .cli(["parse", "--quiet"], target_path=project.target_path).wait())


@cache
def dbt_project() -> DbtProject:
    """The dbt project, with a manifest at ``analytics/target/manifest.json`` (parsed if stale)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    ensure_manifest(project)
    return project


LIBPQ_VARIABLES = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
                   "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT"}


def dbt_variables(dsn: str, password: str | None = None) -> dict[str, str]:
    """libpq's variables (PGHOST, PGPORT, ... PGSSLROOTCERT) of `dsn` (URI or keyword form, parsed
    by libpq's own parser) for ``analytics/profiles.yml``; `password` wins over the DSN's."""
    from psycopg.conninfo import conninfo_to_dict

    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v not in (None, "")}
    if password:
        info["password"] = password
    info.setdefault("user", "postgres")
    info.setdefault("dbname", info["user"])
    return {LIBPQ_VARIABLES[k]: v for k, v in info.items() if k in LIBPQ_VARIABLES}


@contextmanager
def dbt_environment(dsn: str, password: str | None = None):
    """libpq's variables of `dsn` (:func:`dbt_variables`) for dbt's subprocess and the in-process
    adapter that fetches row counts and column schemas; restored afterwards."""
    wanted = dbt_variables(dsn, password)
    saved = {k: os.environ.get(k) for k in (*LIBPQ_VARIABLES.values(), *wanted)}
    for key in LIBPQ_VARIABLES.values():  # a PG* of the shell must not mix with the resource's
        os.environ.pop(key, None)
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class PinterestDbtTranslator(DagsterDbtTranslator):
    """dbt sources -> the registry's ``<entity>_table`` assets; models -> ``analytics`` group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            for entity in registry.ENTITIES.values():
                if entity.table_asset == dbt_resource_props["name"]:
                    return dg.AssetKey(entity.table_asset)
        if dbt_resource_props["resource_type"] == "model":
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return registry.OWNERS

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]):
        return AFTER_TABLES_UPDATE if dbt_resource_props["resource_type"] == "model" else None

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            schema = manifest["nodes"][unique_id].get("schema")
            spec = spec.replace_attributes(freshness_policy=DAILY_DEADLINE).merge_attributes(
                metadata={"table": f"{schema}.{manifest['nodes'][unique_id]['name']}"})
        return spec


def build_dbt_assets() -> dg.AssetsDefinition:
    project = dbt_project()

    @dbt_assets(manifest=project.manifest_path, project=project, name="analytics_dbt",
                dagster_dbt_translator=PinterestDbtTranslator())
    def analytics_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource):
        """`dbt build` of the selected models: runs them and their tests (asset checks), then
        attaches row counts and column schemas to each materialization."""
        with dbt_environment(postgres.dsn, getattr(postgres, "password", None)):
            yield from (dbt.cli(["build"], context=context).stream()
                        .fetch_row_counts().fetch_column_metadata(with_column_lineage=False))

    return analytics_dbt


# ---------------------------------------------------------------------------------------- report
class ReportConfig(dg.Config):
    """Where the HTML report goes (default: ``<PINTEREST_HOME>/reports/pinterest-analysis.html``)."""

    path: str = ""


@dg.asset(
    name=REPORT_ASSET,
    deps=[dg.AssetKey(m) for m in MARTS],
    group_name=GROUP,
    kinds={"html", "postgres"},
    owners=registry.OWNERS,
    automation_condition=AFTER_TABLES_UPDATE,
    freshness_policy=DAILY_DEADLINE,
    description=("One self-contained HTML page (inline SVG, opens with no network): per question what it "
                 "answers and how, a chart and a sortable table per mart, a CSV download and the SQL behind it."),
)
def analytics_report(context: dg.AssetExecutionContext, config: ReportConfig,
                     postgres: PostgresResource) -> dg.MaterializeResult:
    from pinterest_assets.report import default_report_path, fetch_answers, write_report
    from pinterest_assets.settings import get_settings

    path = Path(config.path) if config.path else default_report_path(get_settings())
    with postgres.connect() as conn:
        answers = fetch_answers(conn)
    write_report(answers, path)
    context.log.info(f"analysis report written to {path}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "questions": len({a.question.number for a in answers}),
        "charts": sum(1 for a in answers if a.part.chart),
        "rows": {a.part.mart: len(a.rows) for a in answers},
        "bytes": path.stat().st_size,
    })


def build_analytics_job():
    return dg.define_asset_job(
        "analytics_job",
        selection=dg.AssetSelection.groups(GROUP),
        description="dbt build of the staging models and the marts of the eight questions (with their tests), then the HTML report.",
        tags={"pinterest/kind": "analytics"},
    )


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "analytics_automation_sensor",
        target=dg.AssetSelection.groups(GROUP),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Refreshes the staging models, the marts and the report after the daily tables update.",
    )


SOURCE_FRESHNESS_CHECK = "dbt_source_freshness"


class SourceFreshnessConfig(dg.Config):
    source_schema: str = "pinterest"  # the dbt var `source_schema`: the schema of the daily tables


def build_source_freshness_checks() -> dg.AssetChecksDefinition:
    """`dbt source freshness` as one asset check per daily table (the dbt sources): passes when dbt
    says pass or warn (WARN severity for warn), fails on error, with the newest event's age."""
    specs = [dg.AssetCheckSpec(SOURCE_FRESHNESS_CHECK, asset=e.table_asset,
                               description="dbt source freshness: newest _kafka_timestamp within 26 h "
                               "(warn) / 50 h (error)") for e in registry.ENTITIES.values()]

    @dg.multi_asset_check(specs=specs, name=SOURCE_FRESHNESS_CHECK, can_subset=True)
    def dbt_source_freshness(context: dg.AssetCheckExecutionContext, config: SourceFreshnessConfig,
                             dbt: DbtCliResource, postgres: PostgresResource):
        import json

        tables = sorted(key.asset_key.to_user_string() for key in context.selected_asset_check_keys)
        args = ["source", "freshness", "--select", " ".join(f"source:pinterest.{t}" for t in tables),
                "--vars", json.dumps({"source_schema": config.source_schema})]
        with dbt_environment(postgres.dsn, getattr(postgres, "password", None)):
            invocation = dbt.cli(args, raise_on_error=False, manifest=dbt_project().manifest_path)
            invocation.wait()
        found = {}
        sources = Path(invocation.target_path) / "sources.json"
        if sources.exists():
            found = {r["unique_id"].rsplit(".", 1)[-1]: r for r in json.loads(sources.read_text())["results"]}
        for table in tables:
            result = found.get(table, {})
            status = result.get("status", "not run")
            metadata = {"status": status, "max_loaded_at": str(result.get("max_loaded_at") or ""),
                        "age_seconds": float(result.get("max_loaded_at_time_ago_in_s") or 0.0)}
            if result.get("error") or (not result and status == "not run"):
                metadata["error"] = str(result.get("error") or "dbt gave no result (see the run log)")[:500]
            yield dg.AssetCheckResult(
                asset_key=table, check_name=SOURCE_FRESHNESS_CHECK, passed=status in ("pass", "warn"),
                severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
                metadata=metadata)

    return dbt_source_freshness


def build_analytics_defs() -> dg.Definitions:
    """The analysis layer's Definitions (merged into the code location by ``build_defs``)."""
    return dg.Definitions(
        assets=[build_dbt_assets(), analytics_report],
        asset_checks=[build_source_freshness_checks()],
        jobs=[build_analytics_job()],
        sensors=[build_automation_sensor()],
        resources={"dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())},
    )


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """Freshness policies on the pipeline's own assets: the daily tables by 01:00 UTC, pin_stream
    within a few minutes. (The analytics assets carry theirs.)"""
    tables = [e.table_asset for e in registry.ENTITIES.values()]

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        name = spec.key.to_user_string()
        if name == "pin_stream":
            return spec.replace_attributes(freshness_policy=PIN_STREAM_FRESHNESS)
        if name in tables:
            return spec.replace_attributes(freshness_policy=DAILY_DEADLINE)
        return spec

    with warnings.catch_warnings():  # map_asset_specs is marked preview
        warnings.simplefilter("ignore")
        return defs.map_asset_specs(func=apply)


def add_analytics(defs: dg.Definitions) -> dg.Definitions:
    """``build_defs``'s Definitions plus the analysis layer and the freshness policies."""
    return dg.Definitions.merge(with_freshness(defs), build_analytics_defs())
