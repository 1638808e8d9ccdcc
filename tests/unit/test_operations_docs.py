"""The docs' table of operations is the operation table's: docs/mapping.md and the README carry
exactly what `bridge.operations.docs` renders (print it with `python -m bridge.operations.docs`
after changing the table, and paste it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.operations.docs import HEADER, markdown_table

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("document", ["docs/mapping.md", "README.md"])
def test_the_documents_carry_the_operation_table(document: str) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    assert markdown_table() in text, (
        f"{document}: the table of operations differs from `python -m bridge.operations.docs`"
    )
    assert text.count(HEADER[0]) == 1
