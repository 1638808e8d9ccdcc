"""Paths into decoded JSON values: ``user.id``, ``items[0].sku``, ``a.b[2][0]``.

A path is parsed once at load time into a tuple of keys (str) and indexes (int), so looking a
value up per record is a plain loop.
"""

from __future__ import annotations

import re
from typing import Any, Final

# One dotted segment: a key (anything but . [ ]) followed by any number of [index].
_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[-?\d+\])*)")
_INDEX = re.compile(r"\[(-?\d+)\]")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

CompiledPath = tuple[str | int, ...]


def parse_path(path: str) -> CompiledPath:
    """Parse a path; raise ValueError saying what is wrong with it."""
    if not path or path.strip() != path:
        raise ValueError(f"bad path {path!r}: empty or surrounded by spaces")
    parts: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ValueError(
                f"bad path {path!r}: segment {segment!r} is not a key optionally followed "
                "by [index], as in 'items[0].sku'"
            )
        parts.append(match.group(1))
        parts.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(parts)


def lookup(value: Any, path: CompiledPath) -> Any:
    """The value at `path`, or MISSING when any step is absent or of the wrong kind."""
    for part in path:
        if isinstance(part, str):
            if not isinstance(value, dict):
                return MISSING
            value = value.get(part, MISSING)
            if value is MISSING:
                return MISSING
        else:
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return MISSING
            value = value[part]
    return value


# A template placeholder: {path}; "{{" and "}}" are literal braces.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

TemplatePart = str | CompiledPath


def parse_template(template: str) -> tuple[TemplatePart, ...]:
    """Split ``"{properties.plan}_upgrade"`` into literal text (str) and paths (tuples)."""
    parts: list[TemplatePart] = []
    text = ""
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        text += template[pos : match.start()]
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            text += token[0]
        elif match.group(1) is None:
            raise ValueError(
                f"bad template {template!r}: unbalanced {token!r} at {match.start()} "
                "(write {{ or }} for a literal brace)"
            )
        else:
            if text:
                parts.append(text)
                text = ""
            try:
                parts.append(parse_path(match.group(1)))
            except ValueError as exc:
                raise ValueError(f"bad template {template!r}: {exc}") from None
    text += template[pos:]
    if text:
        parts.append(text)
    if not any(isinstance(p, tuple) for p in parts):
        raise ValueError(f"bad template {template!r}: no {{path}} in it (use const for fixed text)")
    return tuple(parts)
