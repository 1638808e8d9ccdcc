"""Loading a config: YAML, ``${VAR}`` / ``${VAR:-default}`` / ``${file:PATH}`` interpolation,
then validation against the schema (`bridge.config.schema`).

Loading either returns a frozen `BridgeConfig` or raises one `ConfigError` whose message names
the file, the key path and what was expected, so an operator can fix it without reading code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.config.schema import BridgeConfig
from bridge.errors import ConfigError
from bridge.kafka.settings import DeadLetterConfig
from bridge.mapping.settings import MappingConfig
from bridge.settings import Frozen

_Model = TypeVar("_Model", bound=BaseModel)

# ${VAR}, ${VAR:-default}, ${file:PATH} (a secret file's content) and $$ (a literal $).
_REF = re.compile(
    r"\$\$|\$\{file:(?P<file>[^}]+)\}|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
)


def _read_secret_file(path: Path, where: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the secret file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: the secret file {path} is not UTF-8 text") from None
    # Files written by `echo`, editors and Kubernetes/Docker secrets often end with a newline,
    # Windows editors add "\r\n" or a BOM: none is part of the secret, and a secret never
    # legitimately begins or ends with whitespace.
    return text.removeprefix("\ufeff").strip(" \t\r\n")


def _secret_file_path(spec: str, where: str, base_dir: Path) -> Path:
    try:
        return base_dir / Path(spec).expanduser()
    except RuntimeError:  # "~someone" with no such user, or no home directory at all
        raise ConfigError(
            f"{where}: cannot expand '~' in the secret file path {spec!r}: no such user "
            "or home directory"
        ) from None


def _check_references(template: str, where: str) -> None:
    """Every ``${`` in the template must start a reference `_REF` understands: otherwise a
    typo (``${VAR:default}``, ``${ VAR }``) would silently become the value itself. Checked
    on the template, not on the result, so that ``$${`` stays a literal ``${``."""
    hint = "write ${VAR}, ${VAR:-default} or ${file:PATH}, and $${ for a literal ${"
    for match in _REF.finditer(template):
        if "${" in (match.group("file") or match.group("default") or ""):
            text = _shorten(match.group(0) + "}")
            raise ConfigError(f"{where}: a reference inside another is not supported: {text!r}")
    # Each understood reference becomes a NUL, so what is left cannot join into a "${".
    malformed = re.search(r"\$\{[^}\0]*\}?", _REF.sub("\0", template))
    if malformed is not None:
        text = _shorten(malformed.group(0))
        raise ConfigError(f"{where}: cannot read the reference {text!r} ({hint})")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _interpolate(value: Any, where: str, env: Mapping[str, str], base_dir: Path) -> Any:
    """Replace ``${VAR}``, ``${VAR:-default}`` and ``${file:PATH}`` in every string; ``$$`` is
    a literal ``$``. A relative PATH is relative to the config file's folder."""
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{where}.{k}" if where else str(k), env, base_dir)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", env, base_dir) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("file") is not None:
            return _read_secret_file(_secret_file_path(match.group("file"), where, base_dir), where)
        name, default = match.group("name"), match.group("default")
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )

    _check_references(value, where)
    return _REF.sub(substitute, value)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(exc: ValidationError, source: str) -> str:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        # pydantic adds the union branch or validator name to the location; drop those.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        errors.append((loc, err))
    failed = {loc for loc, _ in errors}
    lines = []
    for loc, err in errors:
        # A list whose items failed is also "too short" once they are dropped: say it once.
        if err["type"] == "too_short" and any(f[: len(loc)] == loc and f != loc for f in failed):
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see config/bridge.yaml for every key)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  {_location(loc)}: {msg}")
    header = f"{source}: invalid configuration ({len(lines)} problem(s))"
    return "\n".join([header, *lines])


def parse_config(
    data: Any,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> BridgeConfig:
    """Validate already-parsed YAML data. `source` names the file in error messages;
    `base_dir` is where relative ``${file:...}`` paths start (default: the current folder)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    return _validated(BridgeConfig, data, source, env, base_dir)


class _MappingsOnly(Frozen):
    """What `bridge mapping test` reads of a file: its `mappings:` list, nothing else (so no
    Kafka or Gameball settings, and no secrets, are needed to test a mapping)."""

    model_config = ConfigDict(extra="ignore")
    mappings: tuple[MappingConfig, ...] = Field(min_length=1)


def load_mappings(path: str | Path, env: Mapping[str, str] | None = None) -> MappingsFile:
    """The `mappings:` of a config file (or of a file holding only them), validated as
    `load_config` would, with `dead_letter.max_record_bytes` (the file's, else the default)."""
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict) or "mappings" not in data:
        raise ConfigError(f"{path}: no 'mappings:' list in it")
    dead_letter = data.get("dead_letter")
    limit = dead_letter.get("max_record_bytes") if isinstance(dead_letter, dict) else None
    parsed = _validated(_MappingsOnly, {"mappings": data["mappings"]}, str(path), env, path.parent)
    if not isinstance(limit, int):
        limit = DeadLetterConfig.model_fields["max_record_bytes"].default
    return MappingsFile(parsed.mappings, limit)


@dataclass(frozen=True, slots=True)
class MappingsFile:
    mappings: tuple[MappingConfig, ...]
    max_record_bytes: int


def _validated(
    model: type[_Model],
    data: dict[str, Any],
    source: str,
    env: Mapping[str, str] | None,
    base_dir: Path | None,
) -> _Model:
    try:
        resolved = _interpolate(
            data, "", os.environ if env is None else env, base_dir or Path.cwd()
        )
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        return model.model_validate(resolved, context={"base_dir": base_dir or Path.cwd()})
    except ValidationError as exc:
        # `from None`: pydantic's own rendering would print the inputs, secrets included.
        raise ConfigError(_describe(exc, source)) from None


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> BridgeConfig:
    path = Path(path)
    return parse_config(_read_yaml(path), source=str(path), env=env, base_dir=path.parent)
