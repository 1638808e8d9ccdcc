"""Plugins: Python callables for the records that configuration cannot express.

A plugin is named ``package.module:function``, or by the name a package registers under the
``gameball_bridge.plugins`` entry-point group. It is called as ``function(value, context)``
with the decoded record value and its `RecordContext`, and returns an iterable of
`Operation`s or of ``{"operation": "<name>", "body": {...}, "params": {...}}`` (any operation of
`bridge.operations`; `params` for those with path parameters), or, for the tracking calls,
``{"resource": "events"|"orders"|"customers"|"payments", "body": {...}}``.

Plugins are imported and checked when the configuration is loaded, so a typo stops start-up.
At run time, whatever a plugin raises or returns that is not valid costs only that record:
it becomes `MappingError("plugin_failed" | "invalid_operation")` and is dead-lettered.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any

from bridge.errors import MappingError
from bridge.mapping.context import RecordContext
from bridge.mapping.request_schema import check_operation, describe_value
from bridge.operations import OPERATIONS, TRACKING, Description
from bridge.record import Operation, Resource

ENTRY_POINT_GROUP = "gameball_bridge.plugins"

PluginFunction = Callable[[Any, RecordContext], Iterable[Operation | dict[str, Any]]]


def load_plugin(ref: str) -> PluginFunction:
    """Import the plugin `ref`; raise ValueError saying what is wrong and what would be valid."""
    if ":" in ref:
        module_name, _, attr = ref.partition(":")
        if not module_name or not attr:
            raise ValueError(f"bad plugin {ref!r}: write 'package.module:function'")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # an import runs arbitrary code; any failure is the same answer
            raise ValueError(
                f"cannot import plugin module {module_name!r}: {type(exc).__name__}: {exc}"
            ) from None
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part, None)
            if target is None:
                raise ValueError(f"plugin module {module_name!r} has no attribute {attr!r}")
    else:
        found = entry_points(group=ENTRY_POINT_GROUP, name=ref)
        if not found:
            known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            raise ValueError(
                f"no plugin {ref!r}: write 'package.module:function', or install a package "
                f"registering it under the entry-point group {ENTRY_POINT_GROUP!r} "
                f"(registered: {', '.join(known) or 'none'})"
            )
        try:
            target = next(iter(found)).load()
        except Exception as exc:
            raise ValueError(f"cannot load plugin {ref!r}: {type(exc).__name__}: {exc}") from None
    if not callable(target):
        raise ValueError(f"plugin {ref!r} is not callable")
    try:
        inspect.signature(target).bind(None, None)
    except TypeError:
        raise ValueError(f"plugin {ref!r} must accept two arguments: (value, context)") from None
    except ValueError:
        pass  # builtins without a signature: trust them
    return target  # type: ignore[no-any-return]


class PluginOutput:
    """Calls a plugin and turns what it returns into checked operations."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self._function = load_plugin(ref)

    def __call__(self, doc: Any, ctx: RecordContext) -> list[Operation]:
        try:
            returned = self._function(doc, ctx)
            items = list(returned) if returned is not None else []
        except MappingError:
            raise
        except Exception as exc:  # a plugin's bug costs one record, never the process
            raise MappingError(
                "plugin_failed", f"plugin {self.ref} raised {type(exc).__name__}: {exc}"
            ) from None
        return [self._operation(item, index) for index, item in enumerate(items)]

    def _operation(self, item: Any, index: int) -> Operation:
        where = f"plugin {self.ref} operation {index}"
        customer_id: Any
        params: dict[str, Any]
        if isinstance(item, Operation):
            description, body, customer_id = item.description, item.body, item.customer_id
            params = dict(item.params)
        elif isinstance(item, dict) and "body" in item and item.keys() <= _DICT_KEYS:
            description = self._description(item, where)
            body = item["body"]
            params = item.get("params") or {}
            if not isinstance(params, dict):
                raise MappingError(
                    "plugin_failed",
                    f"{where}: params: expected an object, got {describe_value(params)}",
                )
            customer_id = (
                params.get(description.customer)
                if description.customer in description.params
                else body.get(description.customer)
                if isinstance(body, dict)
                else None
            )
        else:
            raise MappingError(
                "plugin_failed",
                f"{where}: expected an Operation or {{'operation' (or 'resource'): ..., "
                f"'body': ..., 'params': ...}}, got {describe_value(item)}",
            )
        try:
            # A tracking call is named by its resource, as messages always named it.
            tracking = TRACKING[description.bucket] is description
            label = description.bucket.value if tracking else description.name
            check_operation(description, body, params, where=label)
        except MappingError as exc:
            raise MappingError(exc.kind, f"{where}: {exc.message}") from None
        customer = (
            params[description.customer]
            if description.customer in description.params
            else body[description.customer]
        )
        if customer_id != customer:
            raise MappingError(
                "invalid_operation",
                f"{where}: customer_id {customer_id!r} differs from the operation's "
                f"{description.customer}",
            )
        values = tuple((name, params[name]) for name in description.params)
        return Operation(description.bucket, customer, body, description.name, values)

    def _description(self, item: dict[str, Any], where: str) -> Description:
        if ("operation" in item) == ("resource" in item):
            raise MappingError(
                "plugin_failed", f"{where}: give 'operation' (or, for a tracking call, 'resource')"
            )
        if "resource" in item:
            try:
                return TRACKING[Resource(item["resource"])]
            except ValueError:
                valid = ", ".join(r.value for r in Resource)
                raise MappingError(
                    "plugin_failed", f"{where}: resource {item['resource']!r} is not one of {valid}"
                ) from None
        name = item["operation"]
        description = OPERATIONS.get(name) if isinstance(name, str) else None
        if description is None:
            valid = ", ".join(OPERATIONS)
            raise MappingError(
                "plugin_failed", f"{where}: operation {item['operation']!r} is not one of {valid}"
            )
        return description


# What a plugin's dict may hold: the operation by name (or a tracking call by its resource),
# its body, and the values of its path's parameters.
_DICT_KEYS = frozenset({"operation", "resource", "body", "params"})
