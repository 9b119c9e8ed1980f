"""Box prompts typed as text (the CLI's --box and the batch manifest's box column)."""
from __future__ import annotations

import pytest

from napari_medground.errors import QueryError
from napari_medground.reasoning.prompts import parse_box
from napari_medground.result import Box


def test_parse_box_3d_and_2d():
    assert parse_box("1,2,3, 4,5,6") == Box((1, 2, 3), (4, 5, 6))
    assert parse_box("10.4,20.6,30,40") == Box((10, 21), (30, 40))
    assert parse_box("") is None and parse_box(None) is None


@pytest.mark.parametrize("text, words", [("1,2,3", "got 3"), ("a,b,c,d", "comma-separated")])
def test_parse_box_rejects_with_one_line(text, words):
    with pytest.raises(QueryError, match=words) as err:
        parse_box(text)
    assert "\n" not in str(err.value)


def test_batch_library_does_not_import_the_cli():
    import ast
    from pathlib import Path

    import napari_medground.batch as batch

    for path in Path(batch.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert not module.split(".")[-1] in ("cli", "commands") and "commands." not in module, path
