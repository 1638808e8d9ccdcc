"""A real Schema Registry for tests and the demo: Apicurio Registry, whose Confluent-compatible
API (`/apis/ccompat/v7`) is what confluent-kafka's `SchemaRegistryClient` speaks. In-memory
storage: every start is empty. No Docker needed.

The app (a Quarkus tar.gz, `io.apicurio:apicurio-registry-app:<version>:tar.gz:all`) comes
from Maven Central with `mvn dependency:copy` (only that artifact: its pom's dependencies are
already inside the tar.gz, and some live in repositories beyond Maven Central), and is
unpacked once under ``~/.cache/gameball-bridge/``. It needs Java 21+: the Temurin 25 JDK at
`/usr/lib/jvm/temurin-25-jdk-amd64` when present, else JAVA_HOME or PATH if new enough.

Both its HTTP port and its management interface (health, metrics) listen on free 127.0.0.1
ports.

    with LocalRegistry() as registry:
        SchemaRegistryClient({"url": registry.url})

An outage, for tests: `suspend()` stops the process (SIGSTOP: connections hang, requests time
out) and `resume()` lets it go on, with its schemas; `stop()` and `start()` again refuse
connections meanwhile and come back empty, on the same port.

`python -m bridge.sandbox.local_registry` runs one in the foreground until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from bridge.errors import LocalKafkaError
from bridge.sandbox.local_kafka import _free_port, _java_version, cache_root

VERSION = "3.3.3"
ARTIFACT = f"io.apicurio:apicurio-registry-app:{VERSION}:tar.gz:all"
MIN_JAVA = 21
# Where these machines keep a Java new enough; then the usual places.
_JAVA_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java",)
CCOMPAT = "/apis/ccompat/v7"


class LocalRegistryError(LocalKafkaError):
    """The local Schema Registry could not be fetched or started."""


def find_java(candidates: tuple[str, ...] = _JAVA_CANDIDATES) -> str:
    """A Java 21+ binary: a known location first, then JAVA_HOME, PATH and /usr/lib/jvm."""
    found: list[str] = [c for c in candidates if os.access(c, os.X_OK)]
    home = os.environ.get("JAVA_HOME")
    if home:
        found.append(f"{home}/bin/java")
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    found.extend(str(p) for p in sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True))
    seen = []
    for java in found:
        if java in seen or not os.access(java, os.X_OK):
            continue
        seen.append(java)
        if _java_version(java) >= MIN_JAVA:
            return java
    tried = ", ".join(seen) or "none found"
    raise LocalRegistryError(
        f"Apicurio Registry needs Java {MIN_JAVA}+ and none was found (tried: {tried}). "
        "Install a JDK 21 or newer (Debian/Ubuntu: apt-get install openjdk-21-jre-headless, "
        "or Temurin 21/25) or point JAVA_HOME at one."
    )


def _app_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / f"apicurio-registry-{VERSION}"


def registry_is_cached(cache: Path | None = None) -> bool:
    return (_app_dir(cache) / ".complete").exists()


def fetch_registry(cache: Path | None = None) -> Path:
    """Return the unpacked app's folder (holding quarkus-run.jar), fetching it if needed."""
    app = _app_dir(cache)
    if (app / ".complete").exists():
        return app
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalRegistryError(
            "Maven is needed once, to fetch Apicurio Registry from Maven Central, and `mvn` "
            "was not found. Install it (Debian/Ubuntu: apt-get install maven)."
        )
    print(f"fetching Apicurio Registry {VERSION} with Maven into {app} ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy",
                f"-Dartifact={ARTIFACT}",
                f"-DoutputDirectory={tmp}",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
        )
        archives = list(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise LocalRegistryError(
                "Maven could not fetch Apicurio Registry (is Maven Central reachable?):\n"
                + "\n".join(tail)
            )
        if app.exists():
            shutil.rmtree(app)
        app.mkdir(parents=True)
        with tarfile.open(archives[0]) as archive:
            archive.extractall(app, filter="data")
    if not (app / "quarkus-run.jar").exists():
        raise LocalRegistryError(f"{ARTIFACT} unpacked without quarkus-run.jar into {app}")
    (app / ".complete").write_text("ok\n")
    return app


class LocalRegistry:
    def __init__(self, *, heap: str = "384m") -> None:
        self._heap = heap
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.management_port = 0

    @property
    def url(self) -> str:
        """The Confluent-compatible API's base URL, as `SchemaRegistryClient` takes it."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT}"

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, timeout: float = 90.0) -> LocalRegistry:
        """Start (again, on the same ports after a `stop()`) and wait until it answers."""
        java = find_java()
        app = fetch_registry()
        if not self.port:
            self.port, self.management_port = _free_port(), _free_port()
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bridge-registry-")
        log_path = Path(self._tmp.name) / "registry.log"
        command = [
            java,
            f"-Xmx{self._heap}",
            "-XX:+UseSerialGC",  # two cores, shared with a Kafka broker: no parallel GC threads
            "-XX:TieredStopAtLevel=1",  # a quicker start; its throughput is ample for tests
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.management.host=127.0.0.1",
            f"-Dquarkus.management.port={self.management_port}",
            "-Dquarkus.analytics.disabled=true",
            f"-Djava.io.tmpdir={self._tmp.name}",
            "-jar",
            str(app / "quarkus-run.jar"),
        ]
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command, cwd=self._tmp.name, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready(timeout, log_path)
        return self

    def _wait_ready(self, timeout: float, log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                self.stop()
                raise LocalRegistryError(f"Apicurio Registry exited at start-up:\n{tail}")
            try:
                if httpx.get(f"{self.url}/subjects", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise LocalRegistryError(f"Apicurio Registry did not answer within {timeout:.0f}s:\n{tail}")

    def suspend(self) -> None:
        """An outage that keeps the schemas: the process stops, connections hang."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the process (keeping the ports, for a `start()` again)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a suspended process cannot act on SIGTERM
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def main() -> int:
    registry = LocalRegistry()
    try:
        registry.start()
        print(f"Schema Registry (Apicurio) at {registry.url} (Ctrl-C stops it)", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except LocalRegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        registry.close()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
