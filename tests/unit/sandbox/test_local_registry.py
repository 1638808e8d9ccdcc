"""The local Schema Registry's prerequisites: which Java it picks (21+, the preferred one
first), a clear message when none fits or Maven is missing, and the fetch's cache. Fake
`java` and `mvn` scripts stand in for the real ones: nothing here downloads or starts Java."""

from __future__ import annotations

import re
import sys
import tarfile
from pathlib import Path

import pytest

from bridge.errors import LocalKafkaError
from bridge.sandbox import local_registry
from bridge.sandbox.local_registry import LocalRegistryError


def fake_java(folder: Path, version: str) -> str:
    """A `java` that reports `version` the way a JDK does (on stderr)."""
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-09-16' >&2\n")
    java.chmod(0o755)
    return str(java)


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Java anywhere but where a test puts one: empty PATH, no JAVA_HOME, no /usr/lib/jvm."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    jvm = tmp_path / "jvm"
    jvm.mkdir()
    monkeypatch.setattr(local_registry, "_JVM_DIR", jvm)
    return jvm


def test_the_preferred_java_comes_first(no_java: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preferred = fake_java(no_java / "temurin-25", "25.0.1")
    home = fake_java(no_java.parent / "home", "21.0.5")
    monkeypatch.setenv("JAVA_HOME", str(Path(home).parent.parent))
    assert local_registry.find_java([preferred]) == preferred


def test_a_missing_preferred_java_falls_back_to_java_home(
    no_java: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = fake_java(no_java.parent / "home", "21.0.5")
    monkeypatch.setenv("JAVA_HOME", str(Path(home).parent.parent))
    assert local_registry.find_java([str(no_java / "nowhere" / "bin" / "java")]) == home


def test_a_java_too_old_is_passed_over_for_a_newer_one(
    no_java: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_home = fake_java(no_java.parent / "home", "17.0.15")
    monkeypatch.setenv("JAVA_HOME", str(Path(old_home).parent.parent))
    on_path = fake_java(no_java.parent / "path", "21.0.2")
    monkeypatch.setenv("PATH", str(Path(on_path).parent))
    assert local_registry.find_java([]) == on_path


def test_a_jdk_under_usr_lib_jvm_is_found(no_java: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = fake_java(no_java.parent / "path", "17.0.15")
    monkeypatch.setenv("PATH", str(Path(on_path).parent))
    fake_java(no_java / "java-17-openjdk-amd64", "17.0.15")
    newer = fake_java(no_java / "java-21-openjdk-amd64", "21.0.9")
    assert local_registry.find_java([]) == newer


def test_each_java_is_tried_once(no_java: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = fake_java(no_java / "jdk", "21.0.1")
    monkeypatch.setenv("JAVA_HOME", str(no_java / "jdk"))
    monkeypatch.setenv("PATH", str(Path(java).parent))
    assert local_registry.java_candidates([java]) == [java]


def test_no_java_says_what_to_install(no_java: Path) -> None:
    with pytest.raises(LocalRegistryError, match=r"Java 21\+ is needed .* Install a JDK 21"):
        local_registry.find_java([])


def test_only_old_javas_are_named_in_the_error(
    no_java: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = fake_java(no_java / "java-17-openjdk-amd64", "17.0.15")
    with pytest.raises(LocalRegistryError, match=r"needs Java 21\+.*java \(Java 17\).*JAVA_HOME"):
        local_registry.find_java([])
    with pytest.raises(LocalRegistryError, match=re.escape(old)):
        local_registry.find_java([])


def test_the_error_is_a_local_kafka_error() -> None:
    # Callers that catch the sandbox's LocalKafkaError (the demo, bridge check) catch it too.
    assert issubclass(LocalRegistryError, LocalKafkaError)


def test_missing_maven_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalRegistryError, match=r"Maven is needed once.*apt-get install maven"):
        local_registry.fetch_registry(tmp_path / "cache")


def test_maven_failure_is_reported_with_its_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mvn = tmp_path / "mvn"
    mvn.write_text("#!/bin/sh\necho 'Could not transfer artifact: network unreachable'\nexit 1\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalRegistryError, match=r"(?s)Maven could not fetch.*network unreachable"):
        local_registry.fetch_registry(tmp_path / "cache")
    assert not local_registry.registry_is_cached(tmp_path / "cache")


def fake_mvn(folder: Path, tmp_path: Path, *, with_jar: bool = True) -> Path:
    """An `mvn` that "downloads" a small tar.gz shaped like Apicurio's into -DoutputDirectory."""
    app = tmp_path / "fake-app"
    (app / "lib").mkdir(parents=True)
    if with_jar:
        (app / "quarkus-run.jar").write_bytes(b"PK")
    archive = tmp_path / "apicurio-registry-app-all.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(app.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(app)), recursive=False)
    mvn = folder / "mvn"
    folder.mkdir(parents=True, exist_ok=True)
    mvn.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys, pathlib\n"
        "out = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('-DoutputDirectory='))\n"
        "pathlib.Path(out).mkdir(parents=True)\n"
        f"shutil.copy({str(archive)!r}, out)\n"
    )
    mvn.chmod(0o755)
    return mvn


def test_the_fetched_app_is_unpacked_and_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mvn = fake_mvn(tmp_path / "bin", tmp_path)
    monkeypatch.setenv("PATH", str(mvn.parent))
    cache = tmp_path / "cache"
    assert not local_registry.registry_is_cached(cache)
    app = local_registry.fetch_registry(cache)
    assert (app / "quarkus-run.jar").is_file()
    assert local_registry.registry_is_cached(cache)
    assert [p.name for p in cache.iterdir()] == [app.name]  # no leftovers of the unpacking
    mvn.write_text("#!/bin/sh\nexit 1\n")  # a second fetch would now fail
    assert local_registry.fetch_registry(cache) == app


def test_an_archive_without_quarkus_run_jar_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mvn = fake_mvn(tmp_path / "bin", tmp_path, with_jar=False)
    monkeypatch.setenv("PATH", str(mvn.parent))
    with pytest.raises(LocalRegistryError, match=r"holds no quarkus-run.jar"):
        local_registry.fetch_registry(tmp_path / "cache")
    assert not local_registry.registry_is_cached(tmp_path / "cache")


def test_the_pom_pins_a_version() -> None:
    assert local_registry.pinned_version().startswith("3.")


def test_suspending_a_registry_that_is_not_running_says_so() -> None:
    with pytest.raises(LocalRegistryError, match="not running"):
        local_registry.LocalRegistry().suspend()
