"""How every Kafka client of the project connects: protocol, SASL mechanism and credentials, the CA.

One :class:`KafkaSecurity` gives the options of each kind of client: kafka-python (the API
producer, KafkaResource, the stream's probes, the stack tools), Spark's Kafka source
(``kafka.``-prefixed) and Kafka's Java tools (a client properties file). :func:`explain` turns a
failed connection into one line naming the cause, found by a probe of the first broker.
No Dagster import: the ingestion service uses it too.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    check_hostname: bool = True

    @classmethod
    def from_settings(cls, settings) -> "KafkaSecurity":
        cafile = settings.kafka_ssl_cafile
        if cafile is None and settings.kafka_secure_port and not settings.kafka_bootstrap:
            local = settings.home / "tls" / "ca.pem"  # the local secured stack's CA
            cafile = local if local.is_file() else None
        password = settings.kafka_sasl_password
        return cls(protocol=settings.kafka_security_protocol, mechanism=settings.kafka_sasl_mechanism,
                   username=settings.kafka_sasl_username,
                   password=password.get_secret_value() if password is not None else None,
                   cafile=str(cafile) if cafile else None, check_hostname=settings.kafka_ssl_check_hostname)

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def python_options(self) -> dict:
        """kafka-python keyword arguments (KafkaProducer, KafkaConsumer, KafkaAdminClient)."""
        options: dict = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_check_hostname"] = self.check_hostname
            if self.cafile:
                options["ssl_cafile"] = self.cafile
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

    def java_properties(self) -> dict[str, str]:
        """Kafka Java client properties (Spark's source without the ``kafka.`` prefix, the tools)."""
        props = {"security.protocol": self.protocol}
        if self.tls:
            if self.cafile:
                props.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": self.cafile})
            props["ssl.endpoint.identification.algorithm"] = "https" if self.check_hostname else ""
        if self.sasl:
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if self.mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            props["sasl.mechanism"] = self.mechanism
            props["sasl.jaas.config"] = (f'{module} required username="{_jaas(self.username)}" '
                                         f'password="{_jaas(self.password)}";')
        return props

    def spark_options(self) -> dict[str, str]:
        """Options of Spark's Kafka source/sink (``kafka.``-prefixed; Spark redacts the JAAS line)."""
        return {f"kafka.{k}": v for k, v in self.java_properties().items()}

    def write_java_properties(self, path: Path) -> Path:
        """The client properties file Kafka's tools take (``--command-config``), mode 0600."""
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in self.java_properties().items()))
        return path


def _jaas(value: str | None) -> str:
    return (value or "").replace("\\", "\\\\").replace('"', '\\"')


def explain(bootstrap: str, security: KafkaSecurity, timeout: float = 5.0) -> str | None:
    """One line naming why a client with `security` cannot use the first broker of `bootstrap`
    (unreachable, plaintext against TLS, untrusted certificate, SASL refused), or None when the
    probe finds nothing wrong."""
    server = bootstrap.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        return f"Kafka at {server} is not reachable: {exc.strerror or exc}"
    with sock:
        if security.tls:
            context = ssl.create_default_context(cafile=security.cafile)
            context.check_hostname = security.check_hostname
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                return (f"Kafka at {server}: untrusted certificate ({exc.verify_message}); "
                        "set PINTEREST_KAFKA_SSL_CAFILE to the CA that signed the broker's certificate")
            except (ssl.SSLError, OSError) as exc:
                return (f"Kafka at {server} does not speak TLS ({type(exc).__name__}); "
                        f"PINTEREST_KAFKA_SECURITY_PROTOCOL={security.protocol} needs a TLS listener")
        elif _speaks_tls(sock):
            return (f"Kafka at {server} is a TLS listener and this client speaks plaintext: "
                    "set PINTEREST_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL (and the CA)")
        else:
            sock.close()
    if security.sasl:
        return _sasl_problem(bootstrap, security, server)
    return None


def _speaks_tls(sock: socket.socket) -> bool:
    """Whether the server completes a TLS handshake (a plaintext Kafka listener closes the connection)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        context.wrap_socket(sock).close()
        return True
    except OSError:  # ssl.SSLError included
        return False


def _sasl_problem(bootstrap: str, security: KafkaSecurity, server: str) -> str | None:
    """Log in once; kafka-python logs the broker's SASL answer (and then only times out), so the
    answer is taken from its log records."""
    import logging

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    class Capture(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    capture, logger = Capture(), logging.getLogger("kafka")
    logger.addHandler(capture)
    propagate, logger.propagate = logger.propagate, False  # the one line below says it
    try:
        # (with request_timeout_ms=5000 kafka-python 3.0.12 hid the SASL answer behind disconnects)
        admin = KafkaAdminClient(bootstrap_servers=[server], bootstrap_timeout_ms=5000,
                                 **security.python_options())
        admin.close()
        return None
    except KafkaError as exc:
        said = next((m.rsplit("SaslAuthenticationFailedError: ", 1)[-1].split(" (backoff")[0]
                     for m in capture.messages if "SaslAuthenticationFailedError" in m), type(exc).__name__).rstrip(")")
        return (f"Kafka at {server} refused the SASL {security.mechanism} login of user "
                f"{security.username!r} (wrong password or unknown user): {said}")
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate
