"""A real, single-node Apache Kafka broker (KRaft) for tests and the demo; no Docker needed.

The broker's jars come from Maven Central through `kafka-broker-pom.xml` (the pinned
version lives there) and are cached under ``~/.cache/gameball-bridge/`` keyed by the pom's
hash, so only the first run downloads. Each `LocalKafka` formats fresh storage in a temporary
directory and listens on free 127.0.0.1 ports.

    with LocalKafka() as kafka:
        print(kafka.bootstrap_servers)

The PLAINTEXT listener at `bootstrap_servers` is always there (the broker's own traffic uses
it too). For tests of secured clients, `tls` and `sasl_users` add listeners beside it:

    LocalKafka(tls=TlsFiles(keystore=..., client_ca=...), sasl_users={"alice": "secret"})

- `ssl_bootstrap_servers`: SSL, server certificate only;
- `mtls_bootstrap_servers` (with `TlsFiles.client_ca`): SSL that requires a client
  certificate signed by `client_ca`;
- `sasl_ssl_bootstrap_servers` (with `sasl_users` too): SASL_SSL with PLAIN, SCRAM-SHA-256
  and SCRAM-SHA-512 for every user in `sasl_users`, and OAUTHBEARER with Kafka's *unsecured*
  validator, which accepts any unsigned (``alg: none``) JWT carrying `sub` and `exp`: fit for
  testing a client's token handling, never for production.

Every listener advertises ``localhost``, the name the test certificates carry.

`python -m bridge.sandbox.local_kafka` runs one in the foreground until Ctrl-C.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from bridge.errors import LocalKafkaError

MIN_JAVA = 17
POM_NAME = "kafka-broker-pom.xml"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("BRIDGE_KAFKA_CACHE", Path(base) / "gameball-bridge"))


def _java_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> str:
    java = shutil.which("java", path=_java_path())
    if java is None:
        raise LocalKafkaError(
            f"Java {MIN_JAVA}+ is needed to run the local Kafka broker and none was found. "
            "Install a JDK (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME."
        )
    version = _java_version(java)
    if version < MIN_JAVA:
        raise LocalKafkaError(
            f"Kafka 4 needs Java {MIN_JAVA}+, but {java} is Java {version or 'unknown'}. "
            "Install a newer JDK or point JAVA_HOME at one."
        )
    return java


def _java_path() -> str:
    home = os.environ.get("JAVA_HOME")
    path = os.environ.get("PATH", "")
    return f"{home}/bin{os.pathsep}{path}" if home else path


def _broker_libs(cache: Path | None = None) -> Path:
    pom = resources.files("bridge.sandbox").joinpath(POM_NAME).read_bytes()
    return (cache or cache_root()) / f"kafka-{hashlib.sha256(pom).hexdigest()[:12]}"


def broker_is_cached(cache: Path | None = None) -> bool:
    """Whether the broker's jars are fetched already (else the next start runs Maven)."""
    return (_broker_libs(cache) / ".complete").exists()


def fetch_broker(cache: Path | None = None) -> Path:
    """Return a folder holding the broker's jars, downloading them with Maven if needed."""
    pom = resources.files("bridge.sandbox").joinpath(POM_NAME).read_bytes()
    libs = _broker_libs(cache)
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            "Maven is needed once, to fetch the Apache Kafka broker from Maven Central, and "
            "`mvn` was not found. Install it (Debian/Ubuntu: apt-get install maven)."
        )
    libs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pom_path = Path(tmp) / "pom.xml"
        pom_path.write_bytes(pom)
        print(f"fetching the Apache Kafka broker with Maven into {libs} ...", file=sys.stderr)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom_path),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise LocalKafkaError(
            "Maven could not fetch the Kafka broker (is Maven Central reachable?):\n"
            + "\n".join(tail)
        )
    marker.write_text("ok\n")
    return libs


def new_cluster_id() -> str:
    """A random KRaft cluster id. Like Kafka's own `Uuid.randomUuid`, never one starting with
    "-": the storage tool's argument parser would take it for an option (1 start in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_LOG4J = """\
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


@dataclass(frozen=True)
class TlsFiles:
    """The broker's side of TLS, as PEM files (Kafka reads PEM key stores since 2.7)."""

    # The broker's unencrypted PKCS#8 private key followed by its certificate chain.
    keystore: Path
    # CA certificates that client certificates must chain to: adds the mutual-TLS listener.
    client_ca: Path | None = None


# Mechanisms the SASL_SSL listener offers; users are the same for PLAIN and both SCRAMs.
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
_JAAS_SAFE = re.compile(r"[A-Za-z0-9_.@+=-]+")


class LocalKafka:
    """One KRaft broker+controller process on 127.0.0.1, with storage in a temp folder."""

    def __init__(
        self,
        *,
        port: int = 0,
        heap_mb: int = 512,
        tls: TlsFiles | None = None,
        sasl_users: Mapping[str, str] | None = None,
    ) -> None:
        if sasl_users and tls is None:
            raise ValueError("sasl_users needs tls: SASL is offered on the SASL_SSL listener")
        for name, password in (sasl_users or {}).items():
            # They go into a JAAS line and a StorageTool argument unquoted.
            if not (_JAAS_SAFE.fullmatch(name) and _JAAS_SAFE.fullmatch(password)):
                raise ValueError(f"SASL user {name!r}: use only letters, digits and _.@+=-")
        self._port = port
        self._heap_mb = heap_mb
        self._tls = tls
        self._sasl_users = dict(sasl_users or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.bootstrap_servers = ""
        # Set by start() for the listeners `tls` and `sasl_users` ask for; "" otherwise.
        self.ssl_bootstrap_servers = ""
        self.mtls_bootstrap_servers = ""
        self.sasl_ssl_bootstrap_servers = ""
        self.log_path: Path | None = None

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> LocalKafka:
        java = find_java()
        libs = fetch_broker()
        self._tmp = tempfile.TemporaryDirectory(prefix="bridge-kafka-")
        root = Path(self._tmp.name)
        port = self._port or _free_port()
        controller = _free_port()
        self.bootstrap_servers = f"127.0.0.1:{port}"
        self.log_path = root / "broker.log"
        secured = self._secured_listeners()
        listeners = [f"PLAINTEXT://127.0.0.1:{port}"]
        advertised = [f"PLAINTEXT://127.0.0.1:{port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        addresses: dict[str, str] = {}
        for name, protocol in secured.items():
            secured_port = _free_port()
            listeners.append(f"{name}://127.0.0.1:{secured_port}")
            # A name, not the IP: certificates name hosts, and clients check that name.
            advertised.append(f"{name}://localhost:{secured_port}")
            protocols.append(f"{name}:{protocol}")
            addresses[name] = f"localhost:{secured_port}"
        self.ssl_bootstrap_servers = addresses.get("SSL", "")
        self.mtls_bootstrap_servers = addresses.get("MTLS", "")
        self.sasl_ssl_bootstrap_servers = addresses.get("SASL_SSL", "")
        props = root / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
                    f"listeners={','.join(listeners)},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners={','.join(advertised)}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"listener.security.protocol.map={','.join(protocols)}",
                    *self._security_properties(secured),
                    f"log.dirs={root / 'data'}",
                    # One node: every internal topic has one replica; few partitions start fast.
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "num.partitions=1",
                    "",
                ]
            )
        )
        log4j = root / "log4j.properties"
        log4j.write_text(_LOG4J.format(log=self.log_path))
        classpath = f"{libs}/*"
        cluster_id = new_cluster_id()
        fmt = subprocess.run(
            [
                java,
                "-cp",
                classpath,
                f"-Dlog4j.configuration=file:{log4j}",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(props),
                # SCRAM credentials live in the cluster metadata, so they are written here.
                *(
                    arg
                    for name, password in self._sasl_users.items()
                    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                    for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
                ),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            self.stop()
            raise LocalKafkaError(f"formatting KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
        with open(root / "stdout.log", "wb") as out:
            self._proc = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self._heap_mb}m",
                    "-Xms128m",
                    "-XX:+UseSerialGC",
                    f"-Dlog4j.configuration=file:{log4j}",
                    # Kafka 4 also initialises log4j2; give it a quiet default.
                    "-Dlog4j2.level=WARN",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(props),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout, root)
        return self

    def _secured_listeners(self) -> dict[str, str]:
        """Listener name -> security protocol, for what `tls` and `sasl_users` ask for."""
        listeners: dict[str, str] = {}
        if self._tls is not None:
            listeners["SSL"] = "SSL"
            if self._tls.client_ca is not None:
                listeners["MTLS"] = "SSL"
            if self._sasl_users:
                listeners["SASL_SSL"] = "SASL_SSL"
        return listeners

    def _security_properties(self, listeners: Mapping[str, str]) -> list[str]:
        lines: list[str] = []
        if self._tls is not None:
            # Unprefixed ssl.* apply to every SSL listener; listener.name.<x>.* override them.
            lines += ["ssl.keystore.type=PEM", f"ssl.keystore.location={self._tls.keystore}"]
            if self._tls.client_ca is not None:
                lines += [
                    "listener.name.mtls.ssl.client.auth=required",
                    "listener.name.mtls.ssl.truststore.type=PEM",
                    f"listener.name.mtls.ssl.truststore.location={self._tls.client_ca}",
                ]
        if "SASL_SSL" in listeners:
            users = " ".join(f'user_{name}="{pw}"' for name, pw in self._sasl_users.items())
            prefix = "listener.name.sasl_ssl"
            lines += [
                f"{prefix}.sasl.enabled.mechanisms={','.join(_SASL_MECHANISMS)}",
                f"{prefix}.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
                f"{prefix}.scram-sha-256.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                f"{prefix}.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                # No validator configured: Kafka's unsecured one, which takes unsigned JWTs.
                f"{prefix}.oauthbearer.sasl.jaas.config="
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                'unsecuredLoginStringClaim_sub="admin";',
            ]
        return lines

    def _wait_ready(self, timeout: float, root: Path) -> None:
        deadline = time.monotonic() + timeout
        host, port = self.bootstrap_servers.split(":")
        admin: AdminClient | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                log = (root / "stdout.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise LocalKafkaError(f"the Kafka broker exited at start-up:\n{log}")
            if admin is None:
                # Wait for the port first: a client made earlier logs every refused connect.
                with socket.socket() as sock:
                    sock.settimeout(1)
                    if sock.connect_ex((host, int(port))) != 0:
                        time.sleep(0.2)
                        continue
                admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except KafkaException:
                pass
            time.sleep(0.2)
        self.stop()
        raise LocalKafkaError(f"the Kafka broker did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def main() -> int:
    try:
        with LocalKafka() as kafka:
            print(f"Kafka is listening at {kafka.bootstrap_servers} (Ctrl-C stops it)", flush=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
