"""The local broker's prerequisites: a clear message when Java or Maven is missing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bridge.errors import LocalKafkaError
from bridge.sandbox import local_kafka


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(LocalKafkaError, match=r"Java 17\+ is needed .* Install a JDK"):
        local_kafka.find_java()


def test_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(LocalKafkaError, match=r"needs Java 17.*Java 11"):
        local_kafka.find_java()


def test_missing_maven_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match=r"Maven is needed once.*apt-get install maven"):
        local_kafka.fetch_broker(tmp_path / "cache")


def test_maven_failure_is_reported_with_its_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mvn = tmp_path / "mvn"
    mvn.write_text("#!/bin/sh\necho 'Could not transfer artifact: network unreachable'\nexit 1\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match=r"(?s)Maven could not fetch.*network unreachable"):
        local_kafka.fetch_broker(tmp_path / "cache")


def test_cached_broker_is_not_fetched_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mvn = tmp_path / "bin" / "mvn"
    mvn.parent.mkdir()
    mvn.write_text("#!/bin/sh\nexit 0\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(mvn.parent))
    first = local_kafka.fetch_broker(tmp_path / "cache")
    mvn.write_text("#!/bin/sh\nexit 1\n")  # a second fetch would now fail
    assert local_kafka.fetch_broker(tmp_path / "cache") == first


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The storage tool reads "-t -abc..." as two options; 1 random id in 64 starts with "-".
    dashed = uuid.UUID(bytes=b"\xfb" + bytes(15))  # urlsafe base64 of 0xfb... starts with "-"
    ids = iter([dashed, uuid.UUID(int=1)])
    monkeypatch.setattr(local_kafka.uuid, "uuid4", lambda: next(ids))
    cluster_id = local_kafka.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22
