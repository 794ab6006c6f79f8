"""`import genaudit` stays light: heavy libraries load lazily."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "PIL", "torch", "open_clip", "imwatermark", "c2pa", "pandas", "sklearn", "scipy", "click",
         "rich")


def _probe(code: str) -> dict:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         check=True)
    total_us = 0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == "genaudit":
            total_us = int(parts[1].strip())
    return {"loaded": json.loads(out.stdout), "genaudit_cumulative_us": total_us}


# A guard against gross regressions (work done at import time, a heavy library imported eagerly),
# not a performance claim: ~25x the measured figure, so a loaded machine does not trip it. The figure
# itself is measured by benchmarks/import_time.py and recorded in docs/benchmarks.md.
IMPORT_GUARD_US = 250_000


def test_import_genaudit_loads_no_heavy_library() -> None:
    probe = _probe(f"import sys, json, genaudit; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert probe["loaded"] == []
    assert 0 < probe["genaudit_cumulative_us"] < IMPORT_GUARD_US


def test_public_api_names_resolve() -> None:
    import genaudit

    for name in genaudit.__all__:
        assert getattr(genaudit, name) is not None
    assert "Auditor" in dir(genaudit)


def test_engines_do_not_load_the_config_layer() -> None:
    # did_you_mean lives in genaudit.suggest, below the engines: using an engine loads no config/io/results.
    probe = _probe("import sys, json, genaudit.suggest, genaudit.watermark, genaudit.watermark.attacks, "
                   "genaudit.models; print(json.dumps(sorted(m for m in sys.modules if m in "
                   "('genaudit.config', 'genaudit.io', 'genaudit.results', 'genaudit.audit'))))")
    assert probe["loaded"] == []
    suggest = _probe("import sys, json, genaudit.suggest; "
                     "print(json.dumps(sorted(m for m in sys.modules if m.startswith('genaudit'))))")
    assert suggest["loaded"] == ["genaudit", "genaudit._version", "genaudit.suggest"]
