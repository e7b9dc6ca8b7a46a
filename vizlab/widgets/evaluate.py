"""EvaluationExplorer: method x metric x photo -> the map (with the object's boxes) and the curve.

Compute once per (photo, method): the map, its deletion and insertion curves and its pointing
games are cached; switching the metric only redraws from the cache.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .. import data, plot, targets
from .. import evaluate as ev
from ..evaluate.faithfulness import _step_pixels
from ..evaluate.localisation import _masks
from ..hooks import check_input
from ._base import Explorer, image_widget, update_image

__all__ = ["EvaluationExplorer"]

ITEM_KEYS = ("name", "x", "target", "label", "boxes")

METRICS = ("deletion", "insertion", "pointing game", "energy pointing game")
DEFAULT_METHODS = ("saliency", "guided_backprop", "grad_cam", "layer_cam", "random", "centre")


def _check_items(model: nn.Module, items) -> dict:
    """The items by name, each checked now (input, class, boxes) so that a bad one fails at
    construction with its name, not later at a render."""
    if isinstance(items, dict) or not isinstance(items, (list, tuple)):
        raise TypeError(f"items is a list of dicts {ITEM_KEYS} (vizlab.evaluate.annotated_inputs(model) makes "
                        f"them), got {type(items).__name__}")
    if not items:
        raise ValueError("items is empty; pass at least one {'name', 'x', 'target', 'label', 'boxes'} "
                         "(vizlab.evaluate.annotated_inputs(model) makes them)")
    out = {}
    for k, it in enumerate(items):
        missing = [key for key in ITEM_KEYS if not isinstance(it, dict) or key not in it]
        if missing:
            raise ValueError(f"item {k} lacks {missing}; an item is a dict with keys {ITEM_KEYS}")
        name = it["name"]
        if name in out:
            raise ValueError(f"two items are called {name!r}; names pick the photo in the dropdown, make them unique")
        x = check_input(it["x"], model)
        if x.shape[0] != 1:
            raise ValueError(f"item {name!r}: x must be one image [1, C, H, W], got {tuple(x.shape)}")
        try:
            _masks(it["boxes"], 1, tuple(x.shape[-2:]), 0, x.device)
            targets.resolve(it["target"], model)
        except (TypeError, ValueError) as err:
            raise type(err)(f"item {name!r}: {err}") from None
        out[name] = it
    return out


class EvaluationExplorer(Explorer):
    """How does each method score? Pick a photo (an item of ``vizlab.evaluate.annotated_inputs``),
    a method and a metric; the picture shows the map with the hand-drawn boxes and, for
    deletion / insertion, the class probability against the fraction of pixels changed.

    ``render(item, method, metric)`` returns the RGB array the widget shows.
    """

    def __init__(self, model: nn.Module, items: Optional[Sequence[dict]] = None,
                 methods: Sequence[str] = DEFAULT_METHODS, step: float = 0.05, width: int = 560):
        self.model = model
        methods = [methods] if isinstance(methods, str) else list(methods)
        if not methods:
            raise ValueError(f"methods is empty; pass at least one name, e.g. {list(DEFAULT_METHODS[:3])}")
        for m in methods:
            ev.get_method(m)                       # a clear error for an unknown name
        self.methods = methods
        self.items = _check_items(model, items if items is not None else ev.annotated_inputs(model))
        _step_pixels(step, 224 * 224)           # a bad step fails here, not at the first render
        self.step, self.width = step, width
        self._results: dict[tuple, dict] = {}
        self._pictures: dict[tuple, np.ndarray] = {}
        self._controls = None

    # -- compute (once per item and method) -----------------------------------------------------
    def _item(self, item: str) -> dict:
        if item not in self.items:
            raise ValueError(f"unknown photo {item!r}; the explorer has: {', '.join(self.items)}")
        return self.items[item]

    def results(self, item: str, method: str) -> dict:
        """The cached map, curves and scores of ``method`` on ``item``."""
        key = (item, method)
        if key not in self._results:
            it = self._item(item)
            if method not in self.methods:
                raise ValueError(f"unknown method {method!r}; the explorer has: {', '.join(self.methods)}")
            x, t = it["x"], [it["target"]]
            m = ev.explain(method, self.model, x, t, generator=torch.Generator().manual_seed(0))
            d = ev.deletion(m, self.model, x, t, step=self.step)[0]
            i = ev.insertion(m, self.model, x, t, step=self.step)[0]
            self._results[key] = {
                "map": m[0].numpy(), "deletion": d.numpy(), "insertion": i.numpy(),
                "deletion_auc": float(ev.auc(d)), "insertion_auc": float(ev.auc(i)),
                "pointing game": float(ev.pointing_game(m, self.model, x, it["boxes"])),
                "energy pointing game": float(ev.energy_pointing_game(m, self.model, x, it["boxes"]))}
        return self._results[key]

    # -- render ---------------------------------------------------------------------------------
    def render(self, item: str, method: str, metric: str) -> np.ndarray:
        """The picture for these control values: ``H x W x 3`` floats in [0, 1]."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
        key = (item, method, metric)
        if key not in self._pictures:
            self._pictures[key] = self._draw(item, method, metric)
        return self._pictures[key]

    def _draw(self, item: str, method: str, metric: str) -> np.ndarray:
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
        it, r = self._item(item), self.results(item, method)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(7, 3.2), dpi=80)
        x = it["x"] if it["x"].shape[1] == 3 else it["x"][:, :1].expand(-1, 3, -1, -1)   # grey (digits_cnn): as RGB
        photo = data.deprocess(x, self.model)
        a1.imshow(plot.blend(photo, plot.normalize(r["map"]), 0.5))
        scale = plt.cm.ScalarMappable(plt.Normalize(float(r["map"].min()), float(r["map"].max())), "jet")
        plot.add_colorbar(a1, scale, "map value")
        for x0, y0, x1, y1 in it["boxes"]:
            a1.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=2))
        peak = np.unravel_index(np.argmax(r["map"]), r["map"].shape)
        a1.plot(peak[1], peak[0], "w*", ms=14, mec="k")
        a1.set_title(f"{method}: {it['label']}", fontsize=9)
        a1.axis("off")
        if metric in ("deletion", "insertion"):
            curve = r[metric]
            xs = ev.curve_fractions(len(curve), self.step, it["x"].shape[-2] * it["x"].shape[-1])
            a2.plot(xs, curve, color="C0" if metric == "deletion" else "C1")
            a2.fill_between(xs, curve, alpha=0.3, color="C0" if metric == "deletion" else "C1")
            a2.set_xlabel("fraction of pixels " + ("removed" if metric == "deletion" else "inserted"))
            a2.set_ylabel(f"p({it['label']})")
            a2.set_title(f"{metric} AUC = {r[metric + '_auc']:.3f}", fontsize=9)
        else:
            a2.axis("off")
            text = ("hit: the maximum (star) is inside a box" if r["pointing game"] else
                    "miss: the maximum (star) is outside the boxes") if metric == "pointing game" else \
                f"{r['energy pointing game']:.0%} of the map's energy\nlies inside the boxes"
            a2.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True)
        fig.tight_layout()
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255
        plt.close(fig)
        return rgb

    # -- controls -------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w
        first = next(iter(self.items))
        self.item = w.Dropdown(options=list(self.items), value=first, description="photo")
        self.method = w.Dropdown(options=self.methods, value=self.methods[0], description="method")
        self.metric = w.Dropdown(options=list(METRICS), value=METRICS[0], description="metric")
        self.picture = image_widget(self.render(first, self.methods[0], METRICS[0]), self.width)
        self.info = w.HTML(self.summary(first, self.methods[0]))
        for control in (self.item, self.method, self.metric):
            control.observe(lambda change: self._refresh(), names="value")
        return w.VBox([w.HBox([self.item, self.method, self.metric]), self.picture, self.info])

    def summary(self, item: str, method: str) -> str:
        """One line with the four scores of ``method`` on ``item``."""
        r = self.results(item, method)
        return (f"{method} on {item}: deletion AUC {r['deletion_auc']:.3f}, insertion AUC {r['insertion_auc']:.3f}, "
                f"pointing game {'hit' if r['pointing game'] else 'miss'}, "
                f"energy in the boxes {r['energy pointing game']:.0%}")

    def _refresh(self) -> None:
        with self.busy(f"computing {self.method.value} on {self.item.value}..."):
            picture = self.render(self.item.value, self.method.value, self.metric.value)
        update_image(self.picture, picture)
        self.info.value = self.summary(self.item.value, self.method.value)
