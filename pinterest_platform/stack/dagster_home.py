"""The Dagster instance folder: DAGSTER_HOME holding (a link to) the project's dagster.yaml, whose
storage is the `dagster` database of the stack's PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from pinterest_assets.settings import Settings, project_root


def dagster_home(settings: Settings) -> Path:
    return settings.home / "dagster_home"


def prepare_dagster_home(settings: Settings) -> Path:
    home = dagster_home(settings)
    (home / "storage").mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists():
        link.symlink_to(project_root() / "dagster.yaml")
    return home


def dagster_env(settings: Settings) -> dict[str, str]:
    """Variables dagster.yaml and the code location read."""
    home = dagster_home(settings)
    return {
        "DAGSTER_HOME": str(home),
        "PINTEREST_DAGSTER_PG_URL": settings.dagster_pg_url,
        "PINTEREST_DAGSTER_ARTIFACTS": str(home / "storage"),
    }


def dotenv_lines(settings: Settings) -> list[str]:
    """The `.env` the dagster/dg CLIs read from the project folder.

    They load it over the environment, so each value is ``${NAME:-default}``: a variable the user
    exported (another DAGSTER_HOME or instance URL) wins; the project's instance is the default."""
    lines = ["# written by `pinterest stack env --dotenv`; an exported variable wins over the default here"]
    for key, value in dagster_env(settings).items():
        if any(c in value for c in "$}\"\\"):  # not expressible as a default: a plain value
            lines.append(f"{key}='{value}'")
        else:
            lines.append(f'{key}="${{{key}:-{value}}}"')
    return lines
