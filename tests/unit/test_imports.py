"""Every module of the bridge imports on its own, first, in a fresh interpreter: an import
cycle shows only when the module on one side of it is the first one imported (the suite
itself imports them in one fixed order, and would not notice)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import bridge

_EACH_FIRST = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "bridge" or m.startswith("bridge.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first_on_its_own() -> None:
    root = Path(bridge.__file__).parent
    names = [
        info.name
        for info in pkgutil.walk_packages([str(root)], prefix="bridge.")
        # Entry points that run on import.
        if not info.name.endswith("__main__")
    ]
    assert len(names) > 50
    done = subprocess.run(
        [sys.executable, "-c", _EACH_FIRST, *names], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
