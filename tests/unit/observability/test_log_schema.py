"""docs/logging.md documents every event the bridge logs, and nothing it does not log.

The events are read from the source (AST), so a new `log.info("x.y", ...)` without a line in
the docs fails here, and so does a documented event that the code no longer logs.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "bridge"
DOC = REPO / "docs" / "logging.md"

LEVEL_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
# structlog's add_log_level writes `exception` calls as level "error".
LEVEL_NAMES = {"exception": "error"}
DYNAMIC = "varies"
# The receiver of a log call: `log`, `logger`, `self._log`, `_logger`, ...
_LOGGER = re.compile(r"(?:^|\.)_?(?:log|logger)$")
# A documented event: a row of an `| event | level | ...` table whose first cell is one
# backticked name.
_HEADER = re.compile(r"^\|\s*event\s*\|\s*level\s*\|")
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]*)\|")


def _is_logger(node: ast.expr) -> bool:
    return bool(_LOGGER.search(ast.unparse(node)))


def _event_name(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def logged_events() -> dict[str, set[str]]:
    """Every event name logged under bridge/ (bridge/sandbox excluded) -> its levels."""
    events: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SOURCE.rglob("*.py")):
        if "sandbox" in path.relative_to(SOURCE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Call) or (name := _event_name(node)) is None:
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in LEVEL_METHODS
                and _is_logger(func.value)
            ):
                events[name].add(LEVEL_NAMES.get(func.attr, func.attr))
            elif (
                # getattr(log, level)("event", ...): the level is chosen at run time.
                isinstance(func, ast.Call)
                and isinstance(func.func, ast.Name)
                and func.func.id == "getattr"
                and func.args
                and _is_logger(func.args[0])
            ):
                events[name].add(DYNAMIC)
    return dict(events)


def documented_events() -> dict[str, str]:
    """Event name -> the level cell, from the tables of docs/logging.md."""
    events: dict[str, str] = {}
    in_event_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_event_table = False
        elif _HEADER.match(line):
            in_event_table = True
        elif in_event_table and (match := _ROW.match(line)):
            name, level = match.group(1), match.group(2).strip()
            assert name not in events, f"{name} is documented twice in docs/logging.md"
            events[name] = level
    return events


def test_the_scanner_finds_the_known_events() -> None:
    events = logged_events()
    assert events["stats"] == {"info"}
    assert events["engine.unexpected_error"] == {"error"}
    assert events["kafka.client_log"] == {DYNAMIC}
    assert len(events) > 20


def test_every_logged_event_is_documented() -> None:
    missing = sorted(logged_events().keys() - documented_events().keys())
    assert not missing, f"logged but not in docs/logging.md: {missing}"


def test_every_documented_event_is_logged() -> None:
    stale = sorted(documented_events().keys() - logged_events().keys())
    assert not stale, f"in docs/logging.md but never logged under bridge/: {stale}"


def test_documented_levels_match_the_code() -> None:
    documented = documented_events()
    wrong = {
        name: (sorted(levels), documented[name])
        for name, levels in logged_events().items()
        if name in documented and not all(level in documented[name] for level in levels)
    }
    assert not wrong, f"event: (levels in the code, level in docs/logging.md): {wrong}"
