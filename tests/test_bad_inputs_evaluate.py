"""vizlab.evaluate and its explorer: bad inputs get a clear error, never a silently wrong score or a
traceback from inside torch, numpy or skimage.

One table: case -> (call, expected error type, a phrase the message must contain). Each case names
the bug of issue 19 (shared/reviews/newer-modules-bugs.md) it comes from. Tiny random models keep it fast.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vizlab import evaluate as ev
from conftest import TupleOut, assert_clear_error, tiny


def tiny_pooled() -> nn.Module:
    """Unpadded convolutions around a max-pool: a 4 x 4 image is too small for it."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 5)).eval()


def nan_method(model, x, target=None):
    return torch.full((x.shape[0], *x.shape[2:]), float("nan"))


M = tiny()
X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
X1 = X[:1]
MAP1 = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1))
NAN_MAP = MAP1.clone()
NAN_MAP[0, 0, 0] = float("nan")
NAN = float("nan")
ITEM = {"name": "a", "x": X1, "target": 0, "label": "zero", "boxes": [[0, 0, 4, 4]]}
SEEDS = "int seed used for every layer"      # randomize's generator: a Generator, an int or None


def explorer(**kw):
    from vizlab.widgets import EvaluationExplorer
    item = {"name": "a", "x": X1, "target": 0, "label": "zero", "boxes": [[0, 0, 4, 4]]}
    kw.setdefault("items", [item])
    kw.setdefault("methods", ["centre"])
    return EvaluationExplorer(M, **kw)


CASES = {
    # 4. boxes that do not overlap the image
    "box left of and above the image": (lambda: ev.pointing_game(MAP1, M, X1, [-10, -10, -5, -5]), ValueError,
                                        "covers no pixel"),
    "box below the image": (lambda: ev.pointing_game(MAP1, M, X1, [2, 8, 6, 12]), ValueError, "covers no pixel"),
    "energy game, box right of the image": (lambda: ev.energy_pointing_game(MAP1, M, X1, [9, 0, 12, 4]), ValueError,
                                            "8 x 8 image"),
    "box_mask, box outside": (lambda: ev.box_mask([-10, -10, -5, -5], (16, 16)), ValueError, "covers no pixel"),
    "explorer item with a box outside": (lambda: explorer(items=[{"name": "a", "x": X1, "target": 0, "label": "z",
                                                                   "boxes": [[20, 20, 30, 30]]}]),
                                         ValueError, "item 'a'"),
    # 6. maps holding NaN or inf, named by the method
    "NaN precomputed map, deletion": (lambda: ev.deletion(NAN_MAP, M, X1, step=0.25), ValueError, "'map' holds NaN"),
    "NaN map, pointing game": (lambda: ev.pointing_game(NAN_MAP, M, X1, [0, 0, 4, 4]), ValueError, "NaN"),
    "inf map, energy pointing game": (lambda: ev.energy_pointing_game(MAP1.masked_fill(MAP1 > 0.5, float("inf")), M,
                                                                       X1, [0, 0, 4, 4]), ValueError, "infinite"),
    "NaN from a method function": (lambda: ev.explain(nan_method, M, X1), ValueError, "'nan_method' holds NaN"),
    # 10. step
    "step=0.0": (lambda: ev.deletion("centre", M, X1, step=0.0), ValueError, "step must be"),
    "step=-0.5": (lambda: ev.insertion("centre", M, X1, step=-0.5), ValueError, "step must be"),
    "step=True": (lambda: ev.deletion("centre", M, X1, step=True), TypeError, "step must be"),
    "step=nan": (lambda: ev.deletion("centre", M, X1, step=NAN), ValueError, "step must be"),
    "step=2.5 pixels": (lambda: ev.deletion("centre", M, X1, step=2.5), ValueError, "whole number of pixels"),
    # 11. layers to randomise
    "randomize a ReLU": (lambda: next(ev.randomize(M, ["3"])), ValueError, "layer '3' has no parameters"),
    "sanity check on a pooling layer": (lambda: ev.sanity_check("saliency", M, X1, layers=["4"]), ValueError,
                                        "has no parameters"),
    "randomize layers=[]": (lambda: next(ev.randomize(M, [])), ValueError, "no layer"),
    "randomize layers=3": (lambda: next(ev.randomize(M, 3)), TypeError, "layer name"),
    # 16. a class name that does not exist still gets the closest names
    "deletion, class name typo": (lambda: ev.deletion("saliency", _resnet(), torch.zeros(1, 3, 32, 32), "tabyy",
                                                      step=0.5), KeyError, "tabby"),
    # 17. model / input mismatches
    "deletion, float64 input": (lambda: ev.deletion("centre", M, X1.double(), step=0.5), ValueError, "x.float()"),
    "deletion, 1-channel input on an RGB model": (lambda: ev.deletion("centre", M, X1[:, :1], step=0.5), ValueError,
                                                  "channel"),
    "insertion, image too small": (lambda: ev.insertion("centre", tiny_pooled(), torch.zeros(1, 3, 4, 4), 0,
                                                        step=0.5), ValueError, "cannot run on an input"),
    "sanity check, float64 input": (lambda: ev.sanity_check("saliency", M, X1.double(), layers=["6"]), ValueError,
                                    "float64"),
    "deletion on a tuple-output model": (lambda: ev.deletion("centre", TupleOut().eval(), X1, step=0.5), TypeError,
                                         "logits tensor"),
    "named method, model=None": (lambda: ev.deletion("saliency", None, X1, step=0.5), TypeError, "model"),
    "pointing game, model=None": (lambda: ev.pointing_game("saliency", None, X1, [0, 0, 4, 4]), TypeError,
                                  "needs the model"),
    # 18. counts
    "deletion batch_size=0": (lambda: ev.deletion("centre", M, X1, step=0.5, batch_size=0), ValueError, "batch_size"),
    "deletion batch_size=-1": (lambda: ev.deletion("centre", M, X1, step=0.5, batch_size=-1), ValueError,
                               "batch_size"),
    "insertion batch_size=2.5": (lambda: ev.insertion("centre", M, X1, step=0.5, batch_size=2.5), ValueError,
                                 "whole number"),
    # 25. explorer constructor
    "explorer items=[]": (lambda: explorer(items=[]), ValueError, "items is empty"),
    "explorer methods=[]": (lambda: explorer(methods=[]), ValueError, "methods is empty"),
    "explorer unknown method (a guard: it already held)": (lambda: explorer(methods=["grad_cma"]), ValueError,
                                                           "grad_cam"),
    "explorer unknown item": (lambda: explorer().results("b", "centre"), ValueError, "unknown photo 'b'"),
    "explorer item without boxes": (lambda: explorer(items=[{"name": "a", "x": X1, "target": 0, "label": "z"}]),
                                    ValueError, "lacks ['boxes']"),
    "explorer step=0": (lambda: explorer(step=0), ValueError, "step"),
    # 26. box formats
    "box of 5 numbers": (lambda: ev.pointing_game(MAP1, M, X1, [0, 0, 4, 4, 1]), ValueError, "four numbers"),
    "boxes=None": (lambda: ev.pointing_game(MAP1, M, X1, None), TypeError, "boxes must be"),
    "boxes=[]": (lambda: ev.pointing_game(MAP1, M, X1, []), ValueError, "empty"),
    "an image with no box": (lambda: ev.pointing_game(torch.rand(2, 8, 8), M, X, [[[0, 0, 4, 4]], []]), ValueError,
                             "no box"),
    "boxes for 3 images, batch of 2 (a guard)": (lambda: ev.pointing_game(torch.rand(2, 8, 8), M, X,
                                                                           [[[0, 0, 4, 4]]] * 3),
                                       ValueError, "batch holds 2"),
    "box with NaN": (lambda: ev.pointing_game(MAP1, M, X1, [0, 0, NAN, 4]), ValueError, "NaN"),
    "box given as a string": (lambda: ev.pointing_game(MAP1, M, X1, "0 0 4 4"), TypeError, "boxes must be"),
    "tolerance=1.5": (lambda: ev.pointing_game(MAP1, M, X1, [0, 0, 4, 4], tolerance=1.5), ValueError, "tolerance"),
    "tolerance=-1": (lambda: ev.pointing_game(MAP1, M, X1, [0, 0, 4, 4], tolerance=-1), ValueError, "tolerance"),
    # 27. odd inputs
    "auc of a NaN curve": (lambda: ev.auc(torch.tensor([1.0, NAN, 0.0])), ValueError, "NaN"),
    "similarity of maps of different sizes": (lambda: ev.similarity(torch.rand(8, 8), torch.rand(9, 9)), ValueError,
                                              "different sizes"),
    "similarity of a NaN map": (lambda: ev.similarity(NAN_MAP[0], MAP1[0]), ValueError, "NaN"),
    "similarity of a batch": (lambda: ev.similarity(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)), ValueError,
                              "maps[i]"),
    "randomize(generator=True)": (lambda: next(ev.randomize(M, ["6"], generator=True)), TypeError, SEEDS),
    "randomize(generator='0')": (lambda: next(ev.randomize(M, ["6"], generator="0")), TypeError, SEEDS),
    "randomize(generator=1.5)": (lambda: next(ev.randomize(M, ["6"], generator=1.5)), TypeError, SEEDS),
    "sanity_check(generator='0')": (lambda: ev.sanity_check("saliency", M, X1, layers=["6"], generator="0"),
                                    TypeError, SEEDS),
    "substrate of the wrong shape": (lambda: ev.deletion("centre", M, X1, step=0.5, substrate=torch.zeros(1, 2, 8, 8)),
                                     ValueError, "broadcast"),
    "substrate=nan": (lambda: ev.deletion("centre", M, X1, step=0.5, substrate=NAN), ValueError, "finite"),
    "substrate=inf": (lambda: ev.insertion("centre", M, X1, step=0.5, substrate=float("inf")), ValueError, "finite"),
    "substrate tensor with inf": (lambda: ev.substrate(M, X1, torch.full((1, 3, 1, 1), float("inf"))), ValueError,
                                  "infinite"),
    "random map, generator=1": (lambda: ev.random_map(M, X1, generator=1), TypeError,
                                "torch.Generator().manual_seed"),
    "method given as a number": (lambda: ev.explain(3, M, X1), TypeError, "method"),
    # the leaderboard (issue 21): every bad argument fails before any method runs
    "leaderboard, no methods": (lambda: ev.leaderboard(M, [ITEM], []), ValueError, "methods is empty"),
    "leaderboard, typo'd method": (lambda: ev.leaderboard(M, [ITEM], ["gradcam"]), ValueError,
                                   "Did you mean grad_cam"),
    "leaderboard, a map for a method": (lambda: ev.leaderboard(M, [ITEM], [MAP1]), TypeError, "precomputed map"),
    "leaderboard, item without boxes": (lambda: ev.leaderboard(M, [{"name": "a", "x": X1, "target": 0}], ["centre"]),
                                        TypeError, "'boxes'"),
    "leaderboard, sanity=-1": (lambda: ev.leaderboard(M, [ITEM], ["centre"], sanity=-1), ValueError,
                               "number of items"),
    "leaderboard, model by name": (lambda: ev.leaderboard("lite0", [ITEM], ["centre"]), TypeError,
                                   "vizlab.load"),
    "leaderboard, two methods of one name": (lambda: ev.leaderboard(M, [ITEM], ["centre", "centre"]), ValueError,
                                             "share a name"),
}


def _resnet():
    import vizlab as vz
    return vz.load("resnet18", pretrained=False)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(CASES, case)
