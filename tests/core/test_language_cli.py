"""`medground parse`: JSON on stdout, a readable summary, exit 0, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

from napari_medground.cli import main


def test_parse_json(capsys):
    assert main(["parse", "8 mm ground-glass nodule RUL", "--json", "--no-embeddings"]) == 0
    d = json.loads(capsys.readouterr().out)
    q = d["queries"][0]
    assert d["text"] == "8 mm ground-glass nodule RUL"
    assert (q["finding"], q["laterality"], q["size_mm"]) == ("nodule", "right", [8.0])
    assert q["anatomy"][0]["term"] == "upper lobe of lung" and q["attributes"]["density"] == "ground-glass"


def test_parse_words_without_quotes(capsys):
    assert main(["parse", "left", "hippocampus", "--json", "--no-embeddings"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"][0]["anatomy"][0]["side"] == "left"


def test_parse_summary(capsys):
    assert main(["parse", "no left pleural effusion and ?splenomegaly", "--no-embeddings"]) == 0
    out = capsys.readouterr().out
    assert "NEGATED" in out and "UNCERTAIN" in out and "SCT 60046008 Pleural effusion" in out
    assert "left pleura" in out


def test_empty_text_exits_zero_with_json(capsys):
    assert main(["parse", "  ", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["queries"] == [] and d["warnings"]


def test_not_understood_exits_zero(capsys):
    assert main(["parse", "left flurbogland", "--no-embeddings"]) == 0
    assert "NOT UNDERSTOOD" in capsys.readouterr().out


def test_parse_never_imports_torch():
    code = (
        "import sys, json\nfrom napari_medground.cli import main\n"
        "main(['parse', 'tumorous lesion in the left kidney', '--json'])\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules, 'torch imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["queries"][0]["anatomy"][0]["side"] == "left"
