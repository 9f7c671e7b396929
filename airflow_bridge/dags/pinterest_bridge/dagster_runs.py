"""Dagster's GraphQL API, as the Airflow DAG uses it: find, launch and poll one job run."""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
DAILY_JOB = "daily_batch_job"
PARTITION_TAG = "dagster/partition"
AIRFLOW_RUN_TAG = "airflow/dag_run_id"
DONE_OK = {"SUCCESS"}
DONE_BAD = {"FAILURE", "CANCELED"}


DEFAULT_WAIT_TIMEOUT = 3 * 3600
DEFAULT_CATCHUP_DAYS = 3


class SettingError(ValueError):
    """A PINTEREST_* variable the DAG reads has a value it cannot use; the message is one line."""


def int_setting(name: str, default: int, minimum: int, what: str) -> int:
    """Environment variable `name` as an integer >= `minimum` (`default` when unset or empty)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise SettingError(f"{name}={raw!r} is not allowed: expected {what}")
    return value


def positive_int_setting(name: str, default: int, what: str = "a whole number > 0") -> int:
    return int_setting(name, default, 1, what)


def non_negative_int_setting(name: str, default: int, what: str = "a whole number >= 0") -> int:
    return int_setting(name, default, 0, what)


def daily_start_date(now: datetime | None = None) -> datetime:
    """The DAG's start_date (UTC midnight).

    PINTEREST_DAILY_START_DATE (YYYY-MM-DD) fixes it: every day since then runs, however long the
    scheduler was away. Otherwise it is today minus PINTEREST_DAILY_CATCHUP_DAYS (default 3), so a
    first deploy runs only the last few days, and an outage longer than that needs a backfill."""
    days = non_negative_int_setting("PINTEREST_DAILY_CATCHUP_DAYS", DEFAULT_CATCHUP_DAYS,
                                    "a whole number of days >= 0")
    raw = os.environ.get("PINTEREST_DAILY_START_DATE", "").strip()
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise SettingError(f"PINTEREST_DAILY_START_DATE={raw!r} is not allowed: "
                               "expected a date YYYY-MM-DD (UTC)") from None
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    today = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    return today - timedelta(days=days)


def wait_timeout() -> int:
    """PINTEREST_DAGSTER_WAIT_TIMEOUT: seconds the sensor waits for the Dagster run (default 3 h)."""
    return positive_int_setting("PINTEREST_DAGSTER_WAIT_TIMEOUT", DEFAULT_WAIT_TIMEOUT,
                                "a whole number of seconds > 0")


class DagsterError(RuntimeError):
    """Dagster answered, but not with what we asked for (or could not be reached)."""


class DagsterRunFailed(DagsterError):
    """The Dagster run ended FAILURE or CANCELED: retrying the wait cannot help."""


@dataclass(frozen=True)
class RunRef:
    run_id: str
    status: str
    url: str


def resolve_dagster_url(connection=None) -> str:
    """Airflow connection `dagster_default` (if given), else PINTEREST_DAGSTER_URL, else local."""
    if connection is not None and connection.host:
        host = connection.host
        if "://" not in host:
            scheme = connection.schema or "http"
            host = f"{scheme}://{host}"
        if connection.port:
            host = f"{host}:{connection.port}"
        return host.rstrip("/")
    return os.environ.get("PINTEREST_DAGSTER_URL", DEFAULT_DAGSTER_URL).rstrip("/")


def connection_extra(connection) -> dict:
    """The connection's extra as a dict (Airflow's ``extra_dejson``, or its JSON ``extra`` text)."""
    extra = getattr(connection, "extra_dejson", None)
    if extra is None:
        raw = getattr(connection, "extra", None) or "{}"
        try:
            extra = json.loads(raw)
        except ValueError:
            raise SettingError("the Dagster connection's extra is not JSON") from None
    if not isinstance(extra, dict):
        raise SettingError("the Dagster connection's extra must be a JSON object")
    return extra


def auth_headers(connection) -> dict[str, str]:
    """Credentials of the connection as HTTP headers.

    login + password: basic auth; a password without login: ``Authorization: Bearer <password>``;
    extra ``headers`` (an object of name -> value) are added as they are and win."""
    headers: dict[str, str] = {}
    if connection is None:
        return headers
    login, password = getattr(connection, "login", None), getattr(connection, "password", None)
    if login and password is not None:
        token = base64.b64encode(f"{login}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif password:
        headers["Authorization"] = f"Bearer {password}"
    extra_headers = connection_extra(connection).get("headers") or {}
    if not isinstance(extra_headers, dict) or not all(isinstance(v, str) for v in extra_headers.values()):
        raise SettingError("the Dagster connection's extra 'headers' must map header names to strings")
    headers.update(extra_headers)
    return headers


def tls_context(connection) -> ssl.SSLContext | None:
    """TLS verification from the connection's extra ``verify``: true (default: the system's CAs),
    false (no verification), or the path of a CA bundle file or folder."""
    verify = connection_extra(connection).get("verify", True) if connection is not None else True
    if isinstance(verify, str) and verify.strip().lower() in ("true", "false"):
        verify = verify.strip().lower() == "true"
    if verify is True:
        return None
    if verify is False:
        return ssl._create_unverified_context()
    if isinstance(verify, str) and os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    if isinstance(verify, str) and os.path.isfile(verify):
        return ssl.create_default_context(cafile=verify)
    raise SettingError(f"the Dagster connection's extra verify={verify!r} is not allowed: "
                       "expected true, false or the path of a CA bundle file or folder")


class DagsterClient:
    def __init__(self, base_url: str, timeout: float = 30.0, headers: dict[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.ssl_context = ssl_context

    @classmethod
    def from_connection(cls, connection=None, timeout: float = 30.0) -> "DagsterClient":
        """URL, credentials and TLS verification of an Airflow connection (None: the environment)."""
        return cls(resolve_dagster_url(connection), timeout=timeout, headers=auth_headers(connection),
                   ssl_context=tls_context(connection))

    def run_url(self, run_id: str) -> str:
        return f"{self.base_url}/runs/{run_id}"

    def query(self, document: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": document, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.base_url}/graphql", data=body,
                                         headers={**self.headers, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise DagsterError(
                    f"Dagster at {self.base_url} refused the credentials (HTTP {exc.code}): check the password "
                    "or extra headers of the Airflow connection dagster_default") from None
            raise DagsterError(f"Dagster at {self.base_url}/graphql answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise DagsterError(
                    f"cannot verify Dagster's TLS certificate at {self.base_url}: {reason.verify_message}; "
                    "set extra 'verify' of the Airflow connection to the CA bundle's path") from None
            raise DagsterError(f"cannot reach Dagster at {self.base_url}/graphql: {exc}") from exc
        if payload.get("errors"):
            raise DagsterError(f"Dagster GraphQL error: {payload['errors'][0].get('message')}")
        return payload["data"]

    def find_job_location(self, job_name: str) -> tuple[str, str]:
        """(code location name, repository name) of the repository that holds `job_name`."""
        data = self.query("""
            query { repositoriesOrError {
              __typename
              ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
              ... on PythonError { message }
            } }""")
        result = data["repositoriesOrError"]
        if result["__typename"] != "RepositoryConnection":
            raise DagsterError(f"Dagster could not list its repositories: {result.get('message')}")
        for repo in result["nodes"]:
            if any(job["name"] == job_name for job in repo["jobs"]):
                return repo["location"]["name"], repo["name"]
        raise DagsterError(f"no Dagster code location at {self.base_url} has a job named {job_name!r}")

    def find_runs(self, job_name: str, tags: dict[str, str]) -> list[RunRef]:
        query = ("query FindRuns($filter: RunsFilter!) { runsOrError(filter: $filter) { __typename "
                 "... on Runs { results { runId status } } ... on PythonError { message } } }")
        result = self.query(query, {"filter": {"pipelineName": job_name, "tags": tag_list(tags)}})["runsOrError"]
        if result["__typename"] != "Runs":
            raise DagsterError(f"Dagster could not list runs: {result.get('message')}")
        return [RunRef(r["runId"], r["status"], self.run_url(r["runId"])) for r in result["results"]]

    def launch(self, job_name: str, tags: dict[str, str]) -> RunRef:
        location, repository = self.find_job_location(job_name)
        data = self.query("""
            mutation Launch($params: ExecutionParams!) {
              launchRun(executionParams: $params) {
                __typename
                ... on LaunchRunSuccess { run { runId status } }
                ... on PythonError { message }
                ... on RunConfigValidationInvalid { errors { message } }
                ... on Error { message }
              } }""",
            {"params": {
                "selector": {"repositoryLocationName": location, "repositoryName": repository,
                             "jobName": job_name},
                "runConfigData": {},
                "executionMetadata": {"tags": tag_list(tags)},
            }})
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
            raise DagsterError(f"Dagster refused to launch {job_name} ({result['__typename']}): {detail}")
        run = result["run"]
        return RunRef(run["runId"], run["status"], self.run_url(run["runId"]))

    def status(self, run_id: str) -> str:
        data = self.query("""
            query Status($runId: ID!) { runOrError(runId: $runId) {
              __typename ... on Run { status } ... on RunNotFoundError { message } ... on PythonError { message }
            } }""", {"runId": run_id})
        result = data["runOrError"]
        if result["__typename"] != "Run":
            raise DagsterError(f"Dagster run {run_id} not found: {result.get('message')}")
        return result["status"]



def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Run tags as Dagster's GraphQL takes them."""
    return [{"key": k, "value": v} for k, v in tags.items()]

def launch_or_reuse(client: DagsterClient, partition: str, dag_run_id: str,
                    job_name: str = DAILY_JOB) -> tuple[RunRef, bool]:
    """Launch `job_name` for `partition`, unless this Airflow run already launched one that is not
    failed or canceled (an Airflow retry must not start a second Dagster run). Returns (run, reused)."""
    tags = {PARTITION_TAG: partition, AIRFLOW_RUN_TAG: dag_run_id}
    for run in client.find_runs(job_name, tags):
        if run.status not in DONE_BAD:
            return run, True
    return client.launch(job_name, tags), False


def check_run(client: DagsterClient, run_id: str) -> bool:
    """True when the run succeeded, False while it is still going; raises when it failed."""
    status = client.status(run_id)
    if status in DONE_OK:
        return True
    if status in DONE_BAD:
        raise DagsterRunFailed(f"Dagster run {run_id} ended {status}: {client.run_url(run_id)}")
    return False


def partition_for(data_interval_start, params: dict | None = None) -> str:
    """A manual `partition` param wins; otherwise the day the data interval starts (UTC)."""
    chosen = (params or {}).get("partition")
    if chosen:
        return str(chosen)
    return data_interval_start.strftime("%Y-%m-%d")
