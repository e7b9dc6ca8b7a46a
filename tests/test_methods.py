"""vizlab.methods is the one list of methods: every place that offers a choice of method reads it.

Architecture review (issue 21, item 2): nine hand-kept lists of method names (cam, evaluate, attribution,
three explorers, the CLI, ``__init__``, the tests) meant 7+ edits in 5 files for a new CAM variant. These
tests fail when a consumer keeps its own list again, or when a row does not match its function.
"""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import vizlab as vz
from vizlab import methods
from vizlab.methods import REGISTRY

ROWS = list(REGISTRY.values())


@pytest.mark.parametrize("row", ROWS, ids=[m.name for m in ROWS])
def test_row_names_a_function_of_its_module_with_its_kind_call_shape(row):
    fn = row.function()
    assert callable(fn) and fn.__module__ == f"vizlab.{row.module}"
    params = list(inspect.signature(fn).parameters)
    first = ["model", "p"] if row.kind == "attack" else ["model", "x", "target"]
    assert params[:len(first)] == first, f"{row.name}: call shape {params[:3]}, expected {first}"
    assert ("layer" in params) == row.layer, f"{row.name}: layer flag {row.layer}, parameters {params}"
    assert row.chapter in {f"{i:02d}" for i in range(13)} | {"06b"}


@pytest.mark.parametrize("row", ROWS, ids=[m.name for m in ROWS])
def test_exported_rows_are_top_level_names(row):
    if row.exported:
        assert getattr(vz, row.name) is row.function()
        assert row.name in vz.__all__
    else:  # vz.cam is the module, vz.smoothgrad the wrapper smoothgrad(method, ...)
        assert getattr(vz, row.name) is not row.function()


def test_consumers_read_the_registry():
    from vizlab import cam, cli
    from vizlab.widgets import adversarial as wadv, attribution as wattr, cam as wcam
    assert cam.METHODS == methods.names(kind="map")
    assert set(cam.__all__) >= set(methods.names(module="cam"))
    assert cli.EXPLAIN_METHODS == tuple(m.name for m in ROWS if m.layer)
    assert set(wcam.DEFAULT_METHODS) == set(cam.METHODS)
    assert set(wattr.METHODS) == {m.name for m in ROWS if m.module == "attribution" and m.cost == "1 backward"}
    assert wadv.METHODS[:-1] == methods.names(kind="attack") and wadv.METHODS[-1] == "noise"


def test_evaluate_offers_every_explanation_method():
    """Every attribution and map method can be scored (chapter 12's leaderboard, the explorer)."""
    explanations = set(methods.names(kind="attribution")) | set(methods.names(kind="map"))
    assert set(vz.evaluate.METHODS) == explanations


def test_lookup_errors_name_the_closest_method():
    with pytest.raises(ValueError, match="Did you mean 'grad_cam'"):
        methods.get("gradcam")
    with pytest.raises(ValueError, match="unknown CAM method 'saliency'"):
        vz.cam.get_method("saliency")             # a method, but not a CAM method
    with pytest.raises(TypeError, match="by its name"):
        methods.get(vz.grad_cam)
    with pytest.raises(ValueError, match="kind must be"):
        methods.names(kind="maps")


def test_string_names_reach_the_same_function():
    assert vz.cam.get_method("layer_cam") is vz.layer_cam
    assert vz.attribution._attribution_method("guided_backprop") is vz.guided_backprop
    assert methods.function("smoothgrad") is vz.attribution.smoothgrad_saliency


def test_registry_imports_nothing():
    """It sits at the bottom of the package: cam and attribution read it while they load."""
    code = ("import sys, vizlab.methods; "
            "print(sorted(m for m in sys.modules if m.startswith('vizlab.') and m != 'vizlab.methods'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # importing vizlab.methods imports the package first (vizlab/__init__.py and what it imports at the top)
    assert "vizlab.cam" not in out and "vizlab.attribution" not in out and "vizlab.adversarial" not in out


def test_contributing_names_every_step():
    """CONTRIBUTING.md tells a new contributor which room a method, attack and metric go in."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for needle in ("vizlab/methods.py", "cam.py", "## A new attack", "## A new metric", "## A new method",
                   "tests/test_methods.py", "exercise"):
        assert needle in text, needle
