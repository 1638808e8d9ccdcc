"""The data's path, floor by floor: a module imports only from its own package or from the
floors below it, never back up. `bridge.config` assembles the stages' settings, so no stage
may import it (the hook that checks a submission looks for exactly that)."""

from __future__ import annotations

import re
from pathlib import Path

import bridge

# Plain data and building blocks (the operation table beneath the record model, which reads
# it); the stages (peers: none imports another's internals except where listed); what watches
# the stages; the engine on them; the file that configures them all; the programs that wire
# them together.
FLOORS = {
    "operations": 0,
    "errors": 0,
    "settings": 0,
    "backoff": 0,
    "record": 1,
    "decoding": 2,
    "mapping": 3,
    "kafka": 2,
    "gameball": 2,
    "observability": 3,
    "engine": 4,
    "config": 5,
    "app": 6,
    "check": 6,
    "dlq": 6,
    "replay": 7,
    "sandbox": 7,
    "cli": 8,
}
_IMPORT = re.compile(r"^\s*(?:from|import) bridge\.(\w+)", re.MULTILINE)


def _imports() -> list[tuple[str, str, str]]:
    root = Path(bridge.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts == ("__init__.py",):
            continue
        package = parts[0].removesuffix(".py")
        for target in _IMPORT.findall(path.read_text(encoding="utf-8")):
            if target != package:
                found.append((str(path.relative_to(root)), package, target))
    return found


def test_every_package_has_a_floor() -> None:
    root = Path(bridge.__file__).parent
    packages = {
        p.name.removesuffix(".py")
        for p in root.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert packages - {"__init__"} == set(FLOORS)


def test_no_import_runs_back_up_the_floors() -> None:
    found = _imports()
    assert len(found) > 50
    upward = [
        f"{where} imports bridge.{target}"
        for where, package, target in found
        if FLOORS[target] >= FLOORS[package] and not (package == "cli" and target == "sandbox")
    ]
    assert upward == []


def test_no_stage_imports_the_config_package() -> None:
    stages = {"decoding", "mapping", "kafka", "gameball", "engine", "observability"}
    assert [
        w for w, package, target in _imports() if package in stages and target == "config"
    ] == []


# The modules that talk to the outside: the engine reaches them only through its protocols.
DOORS = {
    "bridge.kafka.consumer",
    "bridge.kafka.range_source",
    "bridge.kafka.dead_letter",
    "bridge.kafka.job_journal",
    "bridge.gameball.sender",
    "bridge.gameball.client",
    "bridge.gameball.batching",
}
_MODULE = re.compile(r"^\s*(?:from|import) (bridge(?:\.\w+)+)", re.MULTILINE)


def test_the_engines_protocols_are_a_leaf_that_imports_no_door() -> None:
    protocols = Path(bridge.__file__).parent / "engine" / "protocols.py"
    imported = set(_MODULE.findall(protocols.read_text(encoding="utf-8")))
    assert imported, "the protocols import their plain data from somewhere"
    assert imported & DOORS == set()


def test_offsets_are_bookkept_by_the_engine_and_only_sent_by_the_kafka_door() -> None:
    # One object owns what a partition has done and what is committed
    # (bridge/engine/checkpoint.py); the consumer neither plans commits nor reads metadata.
    consumer = (Path(bridge.__file__).parent / "kafka" / "consumer.py").read_text("utf-8")
    assert "done_above" not in consumer
    assert "checkpoint" not in consumer


_FROM = re.compile(r"^\s*from (\.*)([\w.]*) import ([\w, ()\n]+?)(?=\n\S|\Z)", re.MULTILINE)


def _module_imports() -> dict[str, set[str]]:
    """Module -> the bridge modules it imports (absolute or relative, `TYPE_CHECKING` ones
    too: a circle drawn for the type checker is still one)."""
    root = Path(bridge.__file__).parent
    modules = {
        ".".join(("bridge", *p.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): p
        for p in root.rglob("*.py")
    }
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for dots, base, names in _FROM.findall(path.read_text(encoding="utf-8")):
            if dots:
                parent = package.rsplit(".", len(dots) - 1)[0] if len(dots) > 1 else package
                base = f"{parent}.{base}" if base else parent
            if not base.startswith("bridge"):
                continue
            for item in re.split(r"[\s,()]+", names):
                if f"{base}.{item}" in modules:
                    targets.add(f"{base}.{item}")
            if base in modules:
                targets.add(base)
        found[name] = targets - {name}
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _module_imports()
    assert "bridge.sandbox.emulator.routes" in graph["bridge.sandbox.emulator.server"]
    circles = sorted(
        f"{a} <-> {b}" for a, targets in graph.items() for b in targets if a in graph.get(b, ())
    )
    assert circles == []
