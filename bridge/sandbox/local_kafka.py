"""A real, single-node Apache Kafka broker (KRaft) for tests and the demo; no Docker needed.

The broker's jars come from Maven Central through `kafka-broker-pom.xml` (the pinned
version lives there) and are cached under ``~/.cache/gameball-bridge/`` keyed by the pom's
hash, so only the first run downloads. Each `LocalKafka` formats fresh storage in a temporary
directory and listens on free 127.0.0.1 ports.

    with LocalKafka() as kafka:
        print(kafka.bootstrap_servers)

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


def fetch_broker(cache: Path | None = None) -> Path:
    """Return a folder holding the broker's jars, downloading them with Maven if needed."""
    pom = resources.files("bridge.sandbox").joinpath(POM_NAME).read_bytes()
    libs = (cache or cache_root()) / f"kafka-{hashlib.sha256(pom).hexdigest()[:12]}"
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


class LocalKafka:
    """One KRaft broker+controller process on 127.0.0.1, with storage in a temp folder."""

    def __init__(self, *, port: int = 0, heap_mb: int = 512) -> None:
        self._port = port
        self._heap_mb = heap_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.bootstrap_servers = ""
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
        props = root / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
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
