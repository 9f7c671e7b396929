"""The bridge against a Dagster webserver behind an authenticating HTTPS reverse proxy.

The proxy (started here) terminates TLS with a certificate signed by a CA generated for the test,
and forwards to the real `dagster_server` only requests carrying the bearer token or the basic-auth
user; anything else gets 401."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pinterest_assets_tests.airflow_bridge.airflow_env import airflow_base_env, run_probe

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-" + uuid.uuid4().hex
USER, PASSWORD = "airflow", "pa:ss-" + uuid.uuid4().hex[:8]
ALLOWED = {f"Bearer {TOKEN}", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1, server key), made with openssl."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=pinterest test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                                    "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


class Proxy:
    def __init__(self, upstream: str, cert: Path, key: Path):
        proxy = self
        self.seen: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                auth = self.headers.get("Authorization")
                proxy.seen.append(auth)
                if auth not in ALLOWED:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer realm="dagster"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                request = urllib.request.Request(upstream + self.path, data=body, method=self.command,
                                                 headers={"Content-Type": self.headers.get("Content-Type",
                                                                                           "application/json")})
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, payload, kind = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def secured_dagster(dagster_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certificates(folder)
    proxy = Proxy(dagster_server, cert, key)
    try:
        yield proxy, ca
    finally:
        proxy.close()


class Connection:
    """What the bridge reads of an Airflow connection."""

    def __init__(self, port, password=None, login=None, extra=None):
        self.host, self.port, self.schema = "127.0.0.1", port, "https"
        self.login, self.password, self.extra = login, password, json.dumps(extra or {})


def test_bearer_token_and_ca_from_the_connection_reach_dagster(secured_dagster):
    from pinterest_bridge.dagster_runs import DagsterClient, launch_or_reuse

    proxy, ca = secured_dagster
    client = DagsterClient.from_connection(Connection(proxy.port, password=TOKEN, extra={"verify": str(ca)}))
    assert client.base_url == f"https://127.0.0.1:{proxy.port}"
    run, reused = launch_or_reuse(client, "2025-04-01", f"manual__{uuid.uuid4()}", job_name="noop_job")
    assert not reused and client.status(run.run_id) in {"QUEUED", "STARTING", "STARTED", "SUCCESS"}
    assert proxy.seen and set(proxy.seen) == {f"Bearer {TOKEN}"}


def test_basic_auth_and_extra_headers_are_sent(secured_dagster):
    from pinterest_bridge.dagster_runs import DagsterClient

    proxy, ca = secured_dagster
    basic = DagsterClient.from_connection(Connection(proxy.port, login=USER, password=PASSWORD,
                                                     extra={"verify": str(ca)}))
    assert basic.find_job_location("noop_job")[1] == "__repository__"
    headers = DagsterClient.from_connection(Connection(proxy.port, extra={
        "verify": str(ca.parent / "ca.pem"), "headers": {"Authorization": f"Bearer {TOKEN}"}}))
    assert headers.find_runs("noop_job", {"airflow/dag_run_id": "none"}) == []


def test_missing_or_wrong_credentials_are_one_line_without_the_secret(secured_dagster):
    from pinterest_bridge.dagster_runs import DagsterClient, DagsterError

    proxy, ca = secured_dagster
    for connection in (Connection(proxy.port, extra={"verify": str(ca)}),
                       Connection(proxy.port, password="wrong-" + TOKEN, extra={"verify": str(ca)})):
        with pytest.raises(DagsterError) as info:
            DagsterClient.from_connection(connection).status("abc")
        message = str(info.value)
        assert message.startswith(f"Dagster at https://127.0.0.1:{proxy.port} refused the credentials (HTTP 401)")
        assert "\n" not in message and TOKEN not in message


def test_tls_verification_comes_from_the_connection(secured_dagster):
    from pinterest_bridge.dagster_runs import DagsterClient, DagsterError, SettingError

    proxy, _ = secured_dagster
    with pytest.raises(DagsterError, match=r"^cannot verify Dagster's TLS certificate at https://127\.0\.0\.1:\d+: "
                                           r"unable to get local issuer certificate; set extra 'verify'"):
        DagsterClient.from_connection(Connection(proxy.port, password=TOKEN)).status("abc")
    unverified = DagsterClient.from_connection(Connection(proxy.port, password=TOKEN, extra={"verify": False}))
    with pytest.raises(DagsterError, match="run abc not found"):
        unverified.status("abc")
    with pytest.raises(SettingError, match=r"extra verify='/no/such/ca.pem' is not allowed"):
        DagsterClient.from_connection(Connection(proxy.port, extra={"verify": "/no/such/ca.pem"}))


def test_the_dag_launches_through_the_authenticating_proxy(secured_dagster, airflow_db):
    """dag.test() with the connection `dagster_default` (password = token, extra verify = CA)."""
    from pinterest_bridge.dagster_runs import DagsterClient

    proxy, ca = secured_dagster
    connection = {"conn_type": "http", "host": "127.0.0.1", "port": proxy.port, "schema": "https",
                  "password": TOKEN, "extra": {"verify": str(ca)}}
    env = airflow_base_env(airflow_db, AIRFLOW_CONN_DAGSTER_DEFAULT=json.dumps(connection),
                           PINTEREST_DAGSTER_JOB="noop_job", PINTEREST_DAILY_START_DATE="2025-01-01")
    env.pop("PINTEREST_DAGSTER_URL", None)
    result, output = run_probe(env, "test", "2025-05-02T00:00:00", timeout=600)
    assert result["state"] == "success", output[-6000:]
    assert TOKEN not in output
    client = DagsterClient.from_connection(Connection(proxy.port, password=TOKEN, extra={"verify": str(ca)}))
    assert [r.status for r in client.find_runs("noop_job", {"dagster/partition": "2025-05-01"})] == ["SUCCESS"]
