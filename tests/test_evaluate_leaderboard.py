"""vizlab.evaluate.leaderboard: a tiny model whose ranking is known by hand, occlusion's row, and the
script data/make_leaderboard.py giving the library's table."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import evaluate as ev
from vizlab.evaluate.leaderboard import COLUMNS, OPTIONS
from conftest import assert_untouched, model_state

ROOT = Path(__file__).resolve().parent.parent


def left_half_model() -> nn.Module:
    """logit_0 = mean of the left half of an 8 x 8 RGB image (every channel), logit_1 = 0: the evidence for
    class 0 is exactly the left half."""
    lin = nn.Linear(3 * 8 * 8, 2, bias=False)
    w = torch.zeros(2, 3, 8, 8)
    w[0, :, :, :4] = 1.0 / 96
    with torch.no_grad():
        lin.weight.copy_(w.reshape(2, -1))
    return nn.Sequential(nn.Flatten(), lin).eval()


def left_map(model, x, target=None):
    """The right answer: the left half."""
    m = torch.zeros(x.shape[0], *x.shape[2:])
    m[..., :4] = 1.0
    return m


def right_map(model, x, target=None):
    """The wrong answer: the right half."""
    return 1.0 - left_map(model, x)


# bright left half, dark right half: the blurred start of insertion is about 0 everywhere
X = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) + 0.5
X[..., 4:] *= -1
ITEM = {"name": "left", "x": X, "target": 0, "label": "left", "boxes": [[0, 0, 4, 8]]}


def test_ranking_known_by_hand():
    model = left_half_model()
    before = model_state(model)
    rows = ev.leaderboard(model, [ITEM], [left_map, "saliency", "random", right_map], step=0.125, sanity=0)
    assert_untouched(model, before)
    by = {r["method"]: r for r in rows}
    assert list(by) == ["left_map", "saliency", "random", "right_map"]
    # the gradient is the weight: 1/96 on the left half, 0 on the right -- the left half itself
    for m in ("left_map", "saliency"):
        assert by[m]["pointing"] == 1.0 and by[m]["energy"] == pytest.approx(1.0)
    assert by["right_map"]["pointing"] == 0.0 and by["right_map"]["energy"] == 0.0
    assert 0.3 < by["random"]["energy"] < 0.7                     # about the box's half of the image
    assert by["saliency"]["deletion"] == pytest.approx(by["left_map"]["deletion"])
    # deleting the evidence first makes the score fall fastest; the wrong half first, slowest
    assert by["left_map"]["deletion"] < by["random"]["deletion"] < by["right_map"]["deletion"]
    assert by["left_map"]["insertion"] > by["random"]["insertion"] > by["right_map"]["insertion"]
    assert all(r["sensitivity"] == "" for r in rows)
    assert all(set(r) == set(COLUMNS) for r in rows)


def test_sanity_and_slow_counts_pick_the_first_items():
    model = left_half_model()
    items = [ITEM, {**ITEM, "name": "again"}]
    rows = ev.leaderboard(model, items, ["saliency", "centre"], step=0.5, sanity=1, slow=1,
                          slow_methods=("centre",), sanity_layers=["1"])
    assert [(r["item"], r["method"]) for r in rows] == [("left", "saliency"), ("left", "centre"),
                                                         ("again", "saliency")]
    # re-initialising the only layer changes the gradient map; the centre map ignores the weights
    assert rows[0]["sensitivity"] > 0.1 and rows[1]["sensitivity"] == "" and rows[2]["sensitivity"] == ""
    table = ev.summary(rows)
    assert [(t["method"], t["items"]) for t in table] == [("saliency", 2), ("centre", 1)]
    assert table[0]["pointing"] == "1.000 ± 0.000" and table[1]["sensitivity"] == "--"


def test_occlusion_row():
    """Occlusion is a method of the leaderboard; on the linear model covering a left window with 0 lowers the
    logit by that window's pixels, covering a right one changes nothing: the map is the left half."""
    assert "occlusion" in ev.METHODS
    assert OPTIONS["occlusion"] == {"window": 32, "stride": 16}          # chapter 06b's choice on 224 px photos
    model = left_half_model()
    opts = {"occlusion": {"window": 2, "stride": 2}}
    row = ev.leaderboard(model, [ITEM], ["occlusion"], step=0.125, sanity=0, options=opts)[0]
    assert row["method"] == "occlusion" and row["pointing"] == 1.0
    assert row["energy"] == pytest.approx(1.0, abs=1e-5)          # float32 rounding of logits that do not change
    by_hand = ev.to_map(vz.occlusion(model, X, [0], window=2, stride=2))
    assert (by_hand[0, :, 4:] < 1e-4 * by_hand.max()).all() and (by_hand[0, :, :4] > 0).all()
    again = ev.score(by_hand, model, ITEM, step=0.125)
    assert [row[k] for k in ("deletion", "insertion")] == [again[k] for k in ("deletion", "insertion")]


def _script():
    spec = importlib.util.spec_from_file_location("make_leaderboard", ROOT / "data" / "make_leaderboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_the_library_table(lite0, tmp_path):
    methods = ["grad_cam", "random"]
    _script().main(["--limit", "1", "--workers", "1", "--sanity", "1", "--slow", "0", "--step", "0.25",
                    "--methods", ",".join(methods), "--out", str(tmp_path / "lb")])
    written = list(csv.DictReader(open(tmp_path / "lb.csv")))
    items = ev.annotated_inputs(lite0)[:1]
    rows = ev.leaderboard(lite0, items, methods, step=0.25, sanity=1, slow=0)
    assert len(written) == len(rows) == 2
    for w, r in zip(written, rows):
        assert list(w) == list(COLUMNS)
        for k in COLUMNS[:-1]:                                                  # the timings aside
            assert w[k] == (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]), (r["method"], k)
    md = (tmp_path / "lb.md").read_text(encoding="utf-8")
    for t in ev.summary(rows):
        assert f"| {t['method']} | {t['deletion']} | {t['insertion']} | {t['pointing']} |" in md


def test_shipped_table_has_occlusion_on_every_item():
    table = list(csv.DictReader(open(vz.data.asset_path("leaderboard.csv"))))
    items = {r["item"] for r in table}
    occ = [r for r in table if r["method"] == "occlusion"]
    assert len(items) == 11 and {r["item"] for r in occ} == items
    assert sum(r["sensitivity"] != "" for r in occ) == 2


def test_script_keep_replaces_only_the_given_methods(lite0, tmp_path):
    """--keep adds or re-measures the named methods and keeps the other rows of the table as they are."""
    fake = {"deletion": "0.1111", "insertion": "0.2222", "pointing": "1.0000", "energy": "0.3333",
            "sensitivity": "", "seconds": "9.0000"}
    with open(tmp_path / "lb.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for method in ("grad_cam", "random"):
            w.writerow({"item": "coffee", "method": method, **fake})
    _script().main(["--limit", "1", "--workers", "1", "--sanity", "0", "--slow", "0", "--step", "0.25",
                    "--methods", "random", "--keep", "--out", str(tmp_path / "lb")])
    written = list(csv.DictReader(open(tmp_path / "lb.csv")))
    assert [(r["item"], r["method"]) for r in written] == [("coffee", "grad_cam"), ("coffee", "random")]
    assert {k: written[0][k] for k in fake} == fake                             # kept as it was
    fresh = ev.leaderboard(lite0, ev.annotated_inputs(lite0)[:1], ["random"], step=0.25, sanity=0)[0]
    assert written[1]["deletion"] == f"{fresh['deletion']:.4f}" != fake["deletion"]
