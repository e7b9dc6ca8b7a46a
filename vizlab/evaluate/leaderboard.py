"""The leaderboard of chapter 12: every method scored by every metric on every annotated item.

For each item (a dict ``{"name", "x" [1, C, H, W], "target", "boxes"}``, as ``annotated_inputs`` makes)
and each method, with the item's class as target:

* ``deletion``: AUC of the deletion curve (black substrate), lower is better;
* ``insertion``: AUC of the insertion curve (blurred substrate), higher is better;
* ``pointing``: 1.0 if the map's maximum is inside a box, else 0.0; ``energy``: the share of the map
  inside the boxes, ``sum_{ij in box} m_ij / sum_ij m_ij``;
* ``sensitivity``: ``1 - Spearman(|map of the trained model|, |map with the top layers re-initialised|)``
  (Adebayo et al. 2018, one cascading step), on the first ``sanity`` items only ("" elsewhere);
* ``seconds``: CPU seconds to compute the map (``clock``, default ``time.process_time``).

Each map is computed once and scored by the four metrics as a precomputed map; noisy methods draw from
a generator seeded with 0, so the same call gives the same table (the timings aside).
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .faithfulness import auc, deletion, insertion
from .localisation import energy_pointing_game, pointing_game
from .maps import BASELINES, METHODS, _need_model, explain, get_method, method_label
from .sanity import randomizable_layers, sanity_check

# What the chapter's table uses: few noise samples / quadrature steps (each map costs about 8 backward
# passes), and occlusion with the window and stride of chapter 06b (32 px windows every 16 px: 197 forward
# passes at 224 px; a window about the size of one cell of Lite0's 7 x 7 head, so that the map is as sharp
# as Grad-CAM's, and half-overlapping so that every pixel is covered by 4 windows).
OPTIONS = {"smoothgrad": {"samples": 8}, "integrated_gradients": {"steps": 8},
           "smooth_grad_cam_pp": {"n_samples": 8}, "occlusion": {"window": 32, "stride": 16}}
SLOW = ("score_cam",)        # one forward pass per channel of the head (up to 1280): only on the first `slow` items
COLUMNS = ("item", "method", "deletion", "insertion", "pointing", "energy", "sensitivity", "seconds")
METRICS = ("deletion", "insertion", "pointing", "energy", "sensitivity")


def _check_item(item, i: int) -> None:
    if not isinstance(item, Mapping) or not {"name", "x", "target", "boxes"} <= set(item):
        raise TypeError(f"item {i} must be a dict with keys 'name', 'x', 'target' and 'boxes' (as "
                        f"vizlab.evaluate.annotated_inputs(model) makes), got {type(item).__name__}")


def score(method: Union[str, Callable], model: nn.Module, item: Mapping, *, step: float = 0.2, sanity: bool = False,
          sanity_layers: Optional[Sequence] = None, options: Optional[Mapping] = None,
          clock: Callable[[], float] = time.process_time) -> dict:
    """One row of the leaderboard: ``method`` (a name or a function) on one ``item`` (see the module's
    docstring); ``options`` default to ``OPTIONS[name]``."""
    label = method_label(method)
    options = dict(OPTIONS.get(label, {}) if options is None else options)
    x, target = item["x"], [item["target"]]
    t0 = clock()
    m = explain(method, model, x, target, generator=torch.Generator().manual_seed(0), **options)
    seconds = clock() - t0
    row = {"item": item["name"], "method": label,
           "deletion": float(auc(deletion(m, model, x, target, step=step))),
           "insertion": float(auc(insertion(m, model, x, target, step=step))),
           "pointing": float(pointing_game(m, model, x, item["boxes"])),
           "energy": float(energy_pointing_game(m, model, x, item["boxes"])),
           "sensitivity": "", "seconds": seconds}
    if sanity:
        layers = [randomizable_layers(model)[:3]] if sanity_layers is None else sanity_layers
        sim = sanity_check(method, model, x, target, layers=layers, generator=torch.Generator().manual_seed(0),
                           **options)
        row["sensitivity"] = 1 - sim[-1]["spearman_abs"]
    return row


def leaderboard(model: nn.Module, items: Sequence[Mapping], methods: Optional[Sequence[Union[str, Callable]]] = None, *,
                step: float = 0.2, sanity: int = 2, slow: int = 2, slow_methods: Sequence[str] = SLOW,
                sanity_layers: Optional[Sequence] = None, options: Optional[Mapping[str, Mapping]] = None,
                clock: Callable[[], float] = time.process_time) -> list[dict]:
    """The leaderboard as rows ``{"item", "method", "deletion", "insertion", "pointing", "energy",
    "sensitivity", "seconds"}``, one per item and method (item by item, methods in the given order).

    ``methods``: names (default every method of ``METHODS`` and the baselines ``random`` and ``centre``)
    or functions ``f(model, x, target, **options)`` (a row is labelled by the function's name).
    ``sanity``: the sanity check runs on the first ``sanity`` items (not for ``slow_methods``; the
    class-blind baselines score 0, their maps ignore the weights); ``sanity_layers`` are randomised
    together (default: the top three of ``randomizable_layers(model)``; on Lite0 classifier, head,
    blocks.15). ``slow_methods`` are scored on the first ``slow`` items only. ``options``: per method,
    its keyword options (default ``OPTIONS``). ``summary(rows)`` gives mean and spread per method.
    """
    _need_model(model, "the leaderboard")
    methods = list(METHODS) + list(BASELINES) if methods is None else list(methods)
    if not methods:
        raise ValueError("methods is empty; pass names such as ['grad_cam', 'random'] (see vizlab.evaluate.METHODS)")
    for method in methods:
        if not (isinstance(method, str) or callable(method)):
            raise TypeError(f"a method of the leaderboard is a name such as 'grad_cam' or a function f(model, x, "
                            f"target), got {type(method).__name__} (a precomputed map cannot be re-run on each item)")
        get_method(method)                                   # an unknown name fails before any work
    labels = [method_label(m) for m in methods]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two methods share a name ({labels}); the rows are labelled by it")
    for name, value in (("sanity", sanity), ("slow", slow)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} is a number of items (0 or more), got {value!r}")
    items = list(items)
    for i, item in enumerate(items):
        _check_item(item, i)
    table = {} if options is None else options
    rows = []
    for i, item in enumerate(items):
        for method, label in zip(methods, labels):
            if label in slow_methods and i >= slow:
                continue
            check = i < sanity and label not in slow_methods
            rows.append(score(method, model, item, step=step, sanity=check, sanity_layers=sanity_layers,
                              options=table.get(label, OPTIONS.get(label, {})), clock=clock))
    return rows


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "--"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def summary(rows: Sequence[Mapping], methods: Optional[Sequence[str]] = None) -> list[dict]:
    """Per method (in the order of ``methods``, default the order of first appearance): the number of
    items, ``"mean ± standard deviation"`` of each metric over its items (``"--"`` where none was
    measured) and the median seconds per map."""
    if methods is None:
        methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            raise ValueError(f"no row for method {method!r}; the rows hold {sorted({r['method'] for r in rows})}")
        out.append({"method": method, "items": len(mine),
                    **{k: _mean_sd([float(r[k]) for r in mine if r[k] != ""]) for k in METRICS},
                    "seconds": f"{statistics.median(float(r['seconds']) for r in mine):.2f}"})
    return out
