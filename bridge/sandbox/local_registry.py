"""A real Schema Registry for tests and the demo: Apicurio Registry, whose Confluent-compatible
API (`/apis/ccompat/v7`) is what confluent-kafka's `SchemaRegistryClient` speaks. No Docker.

The app (a Quarkus app packed as a tar.gz) comes from Maven Central through
`schema-registry-pom.xml` (the pinned version lives there) and is unpacked once under
``~/.cache/gameball-bridge/``, keyed by the pom's hash, so only the first run downloads. It
needs Java 21+: the Temurin 25 JDK at `/usr/lib/jvm/temurin-25-jdk-amd64` when present, else
JAVA_HOME, PATH or another JDK under /usr/lib/jvm if new enough.

Storage is Apicurio's default, an in-memory H2 database: every start is empty. Both the HTTP
port and the management interface (health, metrics; Apicurio turns it on, on 0.0.0.0:9000 by
default) listen on free 127.0.0.1 ports.

    with LocalRegistry() as registry:
        SchemaRegistryClient({"url": registry.url})

Outages, for tests:

- `suspend()` stops the process (SIGSTOP): connections are accepted by the kernel but never
  answered, so requests time out; `resume()` lets it go on, its schemas intact;
- `stop()` ends it: connections are refused; `start()` again brings it back on the same
  ports, empty.

`python -m bridge.sandbox.local_registry` runs one in the foreground until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType

import httpx

from bridge.errors import LocalKafkaError
from bridge.sandbox.local_kafka import _free_port, _java_version, cache_root

MIN_JAVA = 21
POM_NAME = "schema-registry-pom.xml"
CCOMPAT = "/apis/ccompat/v7"
# Where the machines this project runs on keep a Java new enough (their default is 17).
PREFERRED_JAVA = ("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java",)
_JVM_DIR = Path("/usr/lib/jvm")


class LocalRegistryError(LocalKafkaError):
    """The local Schema Registry could not be fetched or started. A kind of LocalKafkaError:
    both are the sandbox's missing prerequisites, and callers catch them alike."""


def java_candidates(preferred: Sequence[str] = PREFERRED_JAVA) -> list[str]:
    """Java binaries to try, best first and each once: `preferred`, JAVA_HOME, PATH, then
    every JDK under /usr/lib/jvm (newest-looking names first). Only those that exist."""
    found = list(preferred)
    home = os.environ.get("JAVA_HOME")
    if home:
        found.append(f"{home}/bin/java")
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    found.extend(str(java) for java in sorted(_JVM_DIR.glob("*/bin/java"), reverse=True))
    unique: list[str] = []
    for java in found:
        if java not in unique and os.path.isfile(java) and os.access(java, os.X_OK):
            unique.append(java)
    return unique


def find_java(preferred: Sequence[str] = PREFERRED_JAVA) -> str:
    """The first of `java_candidates` that is Java 21+ (Apicurio Registry 3 needs it)."""
    too_old: list[str] = []
    for java in java_candidates(preferred):
        version = _java_version(java)
        if version >= MIN_JAVA:
            return java
        too_old.append(f"{java} (Java {version or 'unknown'})")
    install = (
        "Install a JDK 21 or newer (Eclipse Temurin 21 or 25; Debian 13 or Ubuntu 24.04: "
        "apt-get install openjdk-21-jre-headless)"
    )
    if not too_old:
        raise LocalRegistryError(
            f"Java {MIN_JAVA}+ is needed to run the local Schema Registry (Apicurio Registry) "
            f"and none was found. {install} or set JAVA_HOME."
        )
    raise LocalRegistryError(
        f"Apicurio Registry 3 needs Java {MIN_JAVA}+, but the Javas found are older: "
        f"{', '.join(too_old)}. {install} or point JAVA_HOME at one."
    )


def _pom() -> bytes:
    return resources.files("bridge.sandbox").joinpath(POM_NAME).read_bytes()


def pinned_version() -> str:
    """The Apicurio Registry version the pom names, for messages."""
    match = re.search(rb"<apicurio.version>([^<]+)</apicurio.version>", _pom())
    return match.group(1).decode() if match else "unknown"


def _app_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / f"apicurio-registry-{hashlib.sha256(_pom()).hexdigest()[:12]}"


def registry_is_cached(cache: Path | None = None) -> bool:
    """Whether the registry is fetched and unpacked already (else the next start runs Maven)."""
    return (_app_dir(cache) / ".complete").exists()


def fetch_registry(cache: Path | None = None) -> Path:
    """Return the unpacked app's folder (holding quarkus-run.jar), fetching it if needed.

    It is unpacked beside its final place and renamed into it, so a run that is interrupted,
    or two that fetch at once, never leave a half-unpacked app that looks complete."""
    app = _app_dir(cache)
    if (app / ".complete").exists():
        return app
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalRegistryError(
            "Maven is needed once, to fetch Apicurio Registry from Maven Central, and `mvn` "
            "was not found. Install it (Debian/Ubuntu: apt-get install maven)."
        )
    app.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"fetching Apicurio Registry {pinned_version()} with Maven into {app} ...",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(dir=app.parent, prefix=".fetching-registry-") as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_bytes(_pom())
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(work / "pom.xml"),
                "dependency:copy",
                f"-DoutputDirectory={work / 'download'}",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=work,
        )
        archives = sorted((work / "download").glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise LocalRegistryError(
                "Maven could not fetch Apicurio Registry (is Maven Central reachable?):\n"
                + "\n".join(tail)
            )
        staged = work / "app"
        with tarfile.open(archives[0]) as archive:
            archive.extractall(staged, filter="data")
        if not (staged / "quarkus-run.jar").is_file():
            raise LocalRegistryError(
                f"the Apicurio Registry archive {archives[0].name} holds no quarkus-run.jar"
            )
        (staged / ".complete").write_text("ok\n")
        if app.exists() and not (app / ".complete").exists():
            shutil.rmtree(app)  # left half-made by something else: ours replaces it
        try:
            staged.rename(app)
        except OSError:
            if not (app / ".complete").exists():
                raise
            # Another process fetched it at the same time and was first: theirs is as good.
    return app


def _class_archive(app: Path, java: str) -> Path:
    """Where the class-data sharing archive for this app and this Java goes: an archive only
    fits the JVM build that wrote it, so the name carries that build's identity."""
    real = Path(java).resolve()
    stat = real.stat()
    key = hashlib.sha256(f"{real}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return app / f"classes-{key}.jsa"


class LocalRegistry:
    """One Apicurio Registry process on 127.0.0.1, logging into a temp folder.

    `stop()` and `start()` again keep the ports (and append to the same log), for tests of a
    registry outage; `close()` (or leaving the `with` block) stops it for good."""

    def __init__(self, *, port: int = 0, heap_mb: int = 384) -> None:
        self._heap_mb = heap_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        # Set on a clean stop: the class archive the JVM wrote at exit, and where it belongs.
        self._archive_move: tuple[Path, Path] | None = None
        self.port = port
        self.management_port = 0
        self.log_path: Path | None = None
        self.suspended = False

    @property
    def url(self) -> str:
        """The Confluent-compatible API's base URL, as `SchemaRegistryClient` takes it."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT}"

    @property
    def management_url(self) -> str:
        """The management interface: /health/ready, /health/live, /metrics."""
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def running(self) -> bool:
        """Whether the process is there (suspended counts: it is there, just not answering)."""
        return self._proc is not None and self._proc.poll() is None

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
        """Start it (again, on the same ports, after a `stop()`) and wait until it answers.
        A registry that is running already is left as it is."""
        if self.running:
            return self
        java = find_java()
        app = fetch_registry()
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bridge-registry-")
        root = Path(self._tmp.name)
        self.port = self.port or _free_port()
        while not self.management_port or self.management_port == self.port:
            self.management_port = _free_port()
        self.log_path = root / "registry.log"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [java, *self._jvm_options(app, java), "-jar", str(app / "quarkus-run.jar")],
                # Quarkus also reads config/application.properties and .env from its working
                # folder: an empty one keeps the caller's files out.
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.suspended = False
        self._wait_ready(timeout)
        return self

    def _jvm_options(self, app: Path, java: str) -> list[str]:
        assert self._tmp is not None
        root = self._tmp.name
        archive = _class_archive(app, java)
        if archive.exists():
            sharing = [f"-XX:SharedArchiveFile={archive}"]
        else:
            # The first run writes the JVM's class-data sharing archive at exit (a start is
            # then about 0.6 of a second quicker, of 2.2). Under a name of its own, moved into
            # place by stop() only when it is whole: two runs at once never share a half-file.
            pending = archive.with_name(f".{archive.name}.{uuid.uuid4().hex[:8]}")
            self._archive_move = (pending, archive)
            sharing = [f"-XX:ArchiveClassesAtExit={pending}"]
        return [
            f"-Xmx{self._heap_mb}m",
            # Two cores, shared with a Kafka broker: no parallel GC threads; only the quick
            # JIT, which starts about a second sooner and is fast enough for tests.
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            *sharing,
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={self.port}",
            # Apicurio enables the management interface; Quarkus's default is 0.0.0.0:9000.
            "-Dquarkus.management.host=127.0.0.1",
            f"-Dquarkus.management.port={self.management_port}",
            # Off in Apicurio's own config already; said here so an environment variable
            # (QUARKUS_OTEL_SDK_DISABLED=false) cannot make it export to localhost:4317.
            "-Dquarkus.otel.sdk.disabled=true",
            # Apicurio's defaults for these are /tmp itself.
            f"-Djava.io.tmpdir={root}",
            f"-Dapicurio.storage.snapshot.location={root}",
            f"-Dapicurio.import.work-dir={root}",
        ]

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-3000:]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise LocalRegistryError(f"Apicurio Registry exited at start-up:\n{tail}")
            try:
                # Quarkus opens its ports only once the app is up: a 200 here is ready.
                if httpx.get(f"{self.url}/subjects", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = self._log_tail()
        self.stop()
        raise LocalRegistryError(
            f"Apicurio Registry did not answer within {timeout:.0f}s at {self.url}:\n{tail}"
        )

    def suspend(self) -> None:
        """An outage that keeps the schemas: the process stops (SIGSTOP), so connections are
        accepted by the kernel and then hang; clients see timeouts, not refusals."""
        if self._proc is None or not self.running:
            raise LocalRegistryError("the local Schema Registry is not running")
        self._proc.send_signal(signal.SIGSTOP)
        self.suspended = True

    def resume(self) -> None:
        """The end of a `suspend()`: the process goes on (SIGCONT) where it stopped."""
        if self._proc is None or not self.running:
            raise LocalRegistryError("the local Schema Registry is not running")
        self._proc.send_signal(signal.SIGCONT)
        self.suspended = False

    def stop(self) -> None:
        """End the process; connections are refused until `start()` brings it back on the
        same ports. Its schemas are gone: storage is in memory."""
        proc, self._proc = self._proc, None
        self.suspended = False
        clean = True
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            proc.send_signal(signal.SIGTERM)
            try:
                # Longer than a plain stop: the first run writes the class archive at exit.
                proc.wait(30)
            except subprocess.TimeoutExpired:
                clean = False
                proc.kill()
                proc.wait()
        move, self._archive_move = self._archive_move, None
        if move is not None:
            pending, archive = move
            if clean and pending.exists() and pending.stat().st_size > 0:
                os.replace(pending, archive)
            else:
                with contextlib.suppress(FileNotFoundError):
                    pending.unlink()

    def close(self) -> None:
        """Stop it for good, and delete its log and temp files."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.log_path = None


def main() -> int:
    try:
        with LocalRegistry() as registry:
            print(
                f"Schema Registry (Apicurio {pinned_version()}) at {registry.url}, "
                f"management at {registry.management_url} (Ctrl-C stops it)",
                flush=True,
            )
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except LocalRegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
