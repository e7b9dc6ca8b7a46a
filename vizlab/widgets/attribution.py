"""Explorers for the gradient chapters (02, 03, 07, 08).

Each one is a compute step whose results are cached per control value (a backward pass, or a few
dozen), a ``render(...)`` that turns a cached result into an ``H x W x 3`` array, and ipywidgets
controls. Moving back to a value seen before only re-encodes a PNG.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .. import attribution as A
from .. import data, methods as registry, plot
from ..hooks import capture, eval_mode, forward_hooks
from ..models import find_layer
from ..models import class_name
from ._base import Explorer, image_widget, inline_label, legend, update_image, why

__all__ = ["DeconvnetExplorer", "SaliencyExplorer", "SmoothGradExplorer", "IntegratedGradientsExplorer"]

# The attribution methods that cost one backward pass (vizlab.methods), the vanilla gradient first
_ONE_PASS = [m.name for m in registry.REGISTRY.values() if m.module == "attribution" and m.cost == "1 backward"]
METHODS = {name: registry.function(name) for name in ["saliency", *(n for n in _ONE_PASS if n != "saliency")]}


def _as_input(model: nn.Module, image) -> torch.Tensor:
    x = image if isinstance(image, torch.Tensor) else data.preprocess(image, model)
    if x.shape[0] != 1:
        raise ValueError(f"an explorer shows one photo; got a batch of {x.shape[0]}")
    return x


def picture(a: torch.Tensor, display: str = "abs_max", cmap: str = "inferno") -> np.ndarray:
    """One attribution ``[1, C, H, W]`` (or ``[C, H, W]``) as ``H x W x 3`` in [0, 1]:
    ``display`` is ``"rgb"`` or the name of a reduction in ``attribution.REDUCTIONS``."""
    a = a if a.ndim == 4 else a[None]
    if display == "rgb":
        return A.rgb(a)[0].numpy()
    if display not in A.REDUCTIONS:
        raise ValueError(f"display must be 'rgb' or one of {list(A.REDUCTIONS)}, not {display!r}")
    m = A.clip_percentile(A.REDUCTIONS[display](a)[0]).numpy()
    if display == "signed_sum":
        bound = max(float(np.abs(m).max()), plot.EPS)
        return plot.colorize((m / bound + 1) / 2, "bwr", normalized=True)
    return plot.colorize(plot.normalize(m), cmap, normalized=True)


def _side_by_side(*pictures: np.ndarray, gap: int = 4) -> np.ndarray:
    h = pictures[0].shape[0]
    white = np.ones((h, gap, 3), dtype=np.float32)
    parts = []
    for p in pictures:
        parts += [p.astype(np.float32), white]
    return np.concatenate(parts[:-1], axis=1)


LEGENDS = {
    "abs_max": ("inferno", "0", "largest", "|attribution|, max over colour channels (top 1% clipped):"),
    "channel_max": ("inferno", "0", "largest", "attribution, max over colour channels (top 1% clipped):"),
    "signed_sum": ("bwr", "lowers the score", "raises the score", "sum over colour channels (white = 0):"),
}
RGB_NOTE = ("rgb: each colour channel's attribution shown as that colour, grey = 0 "
            "(brighter red = the red input channel raises the output)")


def display_legend(display: str) -> str:
    """The colour bar (or a sentence, for ``rgb``) for a ``picture(..., display)``."""
    if display == "rgb":
        return f"<div style='font-size:12px'>{RGB_NOTE}</div>"
    cmap, low, high, title = LEGENDS.get(display, LEGENDS["abs_max"])
    return legend(cmap, low, high, title, middle="0" if display == "signed_sum" else "")


class _Explorer(Explorer):
    """Shared plumbing: a picture, an info line, a colour legend and the controls of
    ``_controls_list()`` (one row each, so labels never float). ``_pending()`` returns a message
    when the current control values need a computation that is not cached yet: the picture is
    dimmed and the message shown while it runs."""

    width = 560

    def _build(self):
        import ipywidgets as w
        controls = self._controls_list()
        self.picture = image_widget(self._current(), self.width)
        self.info = w.HTML()
        self.legend = w.HTML()
        for c in controls:
            c.observe(lambda change: self._refresh(), names="value")
        rows = [inline_label(c, "60px") if isinstance(c, w.ToggleButtons) else c for c in controls]
        box = w.VBox([*rows, self.picture, self.legend, self.info])
        self._controls = box
        self._refresh()
        return box

    def _pending(self):
        return None

    def _legend(self) -> str:
        return display_legend(getattr(self, "display_mode", "abs_max"))

    def _refresh(self) -> None:
        message = self._pending()
        if message:
            with self.busy(message):
                self._current()
        update_image(self.picture, self._current())
        self.info.value = self._describe()
        self.legend.value = self._legend()

def rectifiers_before(model: nn.Module, x: torch.Tensor, layer: str) -> int:
    """How many ReLU / ReLU6 modules run before ``layer``'s output exists (one forward pass).
    With none, the deconvnet, guided and backprop rules give the same projection: the rules
    differ only in how they pass a gradient back through a ReLU."""
    target, seen, count = find_layer(model, layer), [], []

    def on_relu(module, inputs, output):
        seen.append(1)

    def on_layer(module, inputs, output):
        if not count:
            count.append(len(seen))

    hooks = [(m, on_relu) for m in A.rectifiers(model)] + [(target, on_layer)]
    with torch.no_grad(), eval_mode(model), forward_hooks(hooks):
        model(x)
    return count[0] if count else len(seen)


def peak_window(a: torch.Tensor, mass: float = 0.9, smallest: int = 24) -> tuple[int, int, int]:
    """``(top, left, size)`` of the square around the peak of ``|a|`` summed over colour channels
    that holds ``mass`` of the total (at least ``smallest`` px): where a projection lives."""
    m = a.detach().abs().sum(1)[0] if a.ndim == 4 else a.detach().abs().sum(0)
    H, W = m.shape
    cy, cx = divmod(int(m.argmax()), W)
    total, size = float(m.sum()), max(H, W)
    for half in range(smallest // 2, max(H, W)):
        if float(m[max(cy - half, 0):cy + half + 1, max(cx - half, 0):cx + half + 1].sum()) >= mass * total:
            size = min(2 * half + 1, H, W)
            break
    top, left = min(max(cy - size // 2, 0), H - size), min(max(cx - size // 2, 0), W - size)
    return top, left, size


def _enlarge(a: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    return torch.nn.functional.interpolate(t, size=(size, size), mode="nearest")[0].permute(1, 2, 0).numpy()


def _with_box(photo: np.ndarray, top: int, left: int, size: int, colour=(1.0, 0.85, 0.0), line: int = 2) -> np.ndarray:
    out = np.array(photo, dtype=np.float32, copy=True)
    bottom, right = top + size, left + size
    out[top:top + line, left:right] = colour
    out[bottom - line:bottom, left:right] = colour
    out[top:bottom, left:left + line] = colour
    out[top:bottom, right - line:right] = colour
    return out


class DeconvnetExplorer(_Explorer):
    """Zeiler & Fergus' experiment: pick a layer and one of its channels (ranked by how strongly
    it fires on this photo); the strongest unit of that channel is projected back to pixels with
    the ``deconvnet`` rule (or ``guided`` / ``backprop`` to compare).

    ``render(layer, rank, rule)`` returns ``[photo with the window | photo window | projection
    window]``: the window is the square around the projection's peak that holds 90% of it
    (``peak_window``), enlarged, so a projection of a few pixels is still visible. ``channels(layer)``
    lists the channels by decreasing maximum activation. The explorer opens at ``layer`` -- by
    default the middle one of ``layers`` at which the three rules differ (there is a ReLU before it).
    """

    width = 680

    def __init__(self, model: nn.Module, image, layers: Sequence[str], max_rank: int = 32,
                 layer: Optional[str] = None):
        self.model, self.layers, self.max_rank = model, list(layers), max_rank
        self.x = _as_input(model, image)
        maps = capture(model, self.x, self.layers).activations
        self._order = {name: maps[name][0].flatten(1).amax(1).argsort(descending=True)[:max_rank].tolist()
                       for name in self.layers}
        self._peak = {name: maps[name][0].flatten(1).amax(1) for name in self.layers}
        self._photo = data.deprocess(self.x, model)
        self._cache: dict[tuple, torch.Tensor] = {}
        self._relus = {name: rectifiers_before(model, self.x, name) for name in self.layers}
        if layer is None:
            differ = [name for name in self.layers if self._relus[name] > 0] or self.layers
            layer = differ[(len(differ) - 1) // 2]
        if layer not in self.layers:
            raise ValueError(f"layer {layer!r} is not one of layers={self.layers}")
        self.start_layer = layer

    def channels(self, layer: str) -> list[int]:
        return self._order[layer]

    def rules_differ(self, layer: str) -> bool:
        """False when no ReLU runs before ``layer``: then all three rules give one picture."""
        return self._relus[layer] > 0

    def projection(self, layer: str, rank: int = 0, rule: str = "deconvnet") -> torch.Tensor:
        key = (layer, rank, rule)
        if key not in self._cache:
            channel = self._order[layer][rank]
            self._cache[key] = A.neuron_gradient(self.model, self.x, layer, channel, rule=rule, position="max")
        return self._cache[key]

    def render(self, layer: str, rank: int = 0, rule: str = "deconvnet") -> np.ndarray:
        a = self.projection(layer, rank, rule)
        top, left, size = peak_window(a)
        H = self._photo.shape[0]
        window = picture(a[..., top:top + size, left:left + size], "rgb")   # colours scaled within the window
        return _side_by_side(_with_box(self._photo, top, left, size),
                             _enlarge(self._photo[top:top + size, left:left + size], H), _enlarge(window, H))

    def _controls_list(self):
        import ipywidgets as w
        wide = {"description_width": "60px"}
        self.layer = w.Dropdown(options=self.layers, value=self.start_layer, description="layer", style=wide)
        self.rule = w.ToggleButtons(options=list(("deconvnet", "guided", "backprop")), description="rule",
                                    style={**wide, "button_width": "95px"})
        self.rank = w.IntSlider(value=0, min=0, max=self.max_rank - 1, description="rank", style=wide)
        return [self.layer, self.rule, self.rank]

    def _rank(self) -> int:
        return min(self.rank.value, len(self._order[self.layer.value]) - 1)

    def _pending(self):
        if (self.layer.value, self._rank(), self.rule.value) not in self._cache:
            return f"projecting {self.layer.value} back to pixels (one backward pass)..."

    def _current(self):
        return self.render(self.layer.value, self._rank(), self.rule.value)

    def _legend(self) -> str:
        return (f"<div style='font-size:12px'>left: the photo, the yellow square is the window shown enlarged "
                f"in the middle (photo) and on the right (projection). {RGB_NOTE}</div>")

    def _describe(self):
        layer, rank = self.layer.value, self._rank()
        channel = self._order[layer][rank]
        a = self.projection(layer, rank, self.rule.value)
        size = peak_window(a)[2]
        text = (f"<code>{layer}</code> channel {channel} (#{rank + 1} strongest here, peak "
                f"{float(self._peak[layer][channel]):.3g}) projected to pixels with the {self.rule.value} rule; "
                f"90% of it lies in a {size}x{size} px window")
        if not self.rules_differ(layer):
            text += why(f"No ReLU runs before <code>{layer}</code>, so the three rules give the same picture: "
                         "they differ only in how a gradient passes back through a ReLU. Pick a deeper layer.")
        return text


class SaliencyExplorer(_Explorer):
    """Method x class x display for one photo: how the backward rule and the class change the map.

    ``classes`` defaults to the model's top 5 for the photo. ``render(method, cls, display)``.
    """

    def __init__(self, model: nn.Module, image, classes: Optional[Sequence[int]] = None,
                 methods: Sequence[str] = tuple(METHODS)):
        self.model, self.methods = model, list(methods)
        self.x = _as_input(model, image)
        if classes is None:
            with torch.no_grad(), eval_mode(model):  # a train-mode model: no dropout, BN buffers untouched
                classes = model(self.x)[0].topk(5).indices.tolist()
        self.classes = list(classes)
        self._photo = data.deprocess(self.x, model)
        self._cache: dict[tuple, torch.Tensor] = {}

    def attribution(self, method: str, cls: int) -> torch.Tensor:
        if (method, cls) not in self._cache:
            self._cache[method, cls] = METHODS[method](self.model, self.x, cls)
        return self._cache[method, cls]

    def render(self, method: str, cls: int, display: str = "abs_max") -> np.ndarray:
        return _side_by_side(self._photo, picture(self.attribution(method, cls), display))

    def _controls_list(self):
        import ipywidgets as w
        self.method = w.Dropdown(options=self.methods, value=self.methods[0], description="method")
        self.cls = w.Dropdown(options=[(f"{c} {class_name(self.model, c)}", c) for c in self.classes],
                              value=self.classes[0], description="class")
        self.display = w.ToggleButtons(options=["abs_max", "channel_max", "signed_sum", "rgb"], description="show",
                                       style={"button_width": "105px"})
        return [self.method, self.cls, self.display]

    def _pending(self):
        if (self.method.value, self.cls.value) not in self._cache:
            return f"computing {self.method.value} (one backward pass)..."

    def _legend(self) -> str:
        return display_legend(self.display.value)

    def _current(self):
        return self.render(self.method.value, self.cls.value, self.display.value)

    def _describe(self):
        return (f"{self.method.value} for class {self.cls.value} ({class_name(self.model, self.cls.value)}), "
                f"shown as {self.display.value}")


class SmoothGradExplorer(_Explorer):
    """Noise level x number of samples x read-out (SmoothGrad, SmoothGrad², VarGrad).

    For each noise level the ``max_samples`` noisy attributions are computed once (on first use)
    and kept; the samples slider only averages the first ``k`` of them -- which is exactly
    ``smoothgrad(method, ..., samples=k, generator=torch.Generator().manual_seed(seed))``.
    """

    def __init__(self, model: nn.Module, image, target=None, method: Callable = A.saliency,
                 noise_levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3), max_samples: int = 32,
                 batch_size: int = 8, seed: int = 0, display: str = "abs_max"):
        self.model, self.method, self.target = model, method, target
        self.noise_levels, self.max_samples = list(noise_levels), max_samples
        self.batch_size, self.seed, self.display_mode = batch_size, seed, display
        self.x = _as_input(model, image)
        self._photo = data.deprocess(self.x, model)
        self._samples: dict[float, torch.Tensor] = {}

    def samples(self, noise: float) -> torch.Tensor:
        """``[max_samples, C, H, W]``: the attribution of each noisy copy (computed once per level)."""
        if noise not in self._samples:
            g = torch.Generator().manual_seed(self.seed)
            runs = A.noisy_attributions(self.method, self.model, self.x, self.target, self.max_samples, noise,
                                        self.batch_size, g)
            kept = []
            for s, _, a in runs:
                kept.append(a)
                if s % self.batch_size == self.batch_size - 1:
                    self.progress(s + 1, self.max_samples)
            self._samples[noise] = torch.stack(kept)
        return self._samples[noise]

    def result(self, noise: float, samples: int, kind: str = "smoothgrad") -> torch.Tensor:
        first = self.samples(noise)[:samples]
        return A.combine_samples(first.mean(0, keepdim=True), (first * first).mean(0, keepdim=True), kind)

    def render(self, noise: float, samples: int, kind: str = "smoothgrad") -> np.ndarray:
        return _side_by_side(self._photo, picture(self.result(noise, samples, kind), self.display_mode))

    def _controls_list(self):
        import ipywidgets as w
        self.noise = w.SelectionSlider(options=self.noise_levels, value=self.noise_levels[min(3, len(self.noise_levels) - 1)],
                                       description="noise", continuous_update=False)
        self.kind = w.ToggleButtons(options=list(A.SMOOTHGRAD_KINDS), description="read-out")
        self.n = w.IntSlider(value=self.max_samples, min=1, max=self.max_samples, description="samples")
        return [self.noise, self.kind, self.n]

    def _pending(self):
        if self.noise.value not in self._samples:
            return (f"computing {self.max_samples} noisy copies at noise {self.noise.value:g} "
                    f"(one backward pass each; then every samples/read-out setting is instant)...")

    def _current(self):
        return self.render(self.noise.value, self.n.value, self.kind.value)

    def _describe(self):
        text = (f"{self.kind.value} of {self.method.__name__}: noise {self.noise.value:g} of the input range, "
                f"{self.n.value} samples")
        if self.noise.value == 0:
            text += why("With noise 0 every sample is the photo itself: the number of samples changes nothing, "
                         "and VarGrad is zero.")
        return text


class IntegratedGradientsExplorer(_Explorer):
    """Baseline x steps x quadrature rule; the info line shows the completeness error
    ``|sum IG - (S(x) - S(x'))| / |S(x) - S(x')|``. ``render(baseline, steps, method)`` returns
    ``[photo | baseline | IG map]``."""

    def __init__(self, model: nn.Module, image, target=None, baselines: Sequence[str] = ("black", "blur", "noise"),
                 steps: Sequence[int] = (4, 8, 16, 32, 64), methods: Sequence[str] = ("gausslegendre", "trapezoid", "left"),
                 batch_size: int = 8, seed: int = 0, display: str = "abs_max"):
        self.model, self.target = model, target
        self.baselines, self.steps_options, self.methods = list(baselines), list(steps), list(methods)
        self.batch_size, self.seed, self.display_mode = batch_size, seed, display
        self.x = _as_input(model, image)
        self._photo = data.deprocess(self.x, model)
        self._cache: dict[tuple, tuple] = {}

    def baseline(self, name: str) -> torch.Tensor:
        return A.baseline_for(self.model, self.x, name, torch.Generator().manual_seed(self.seed))

    def result(self, baseline: str, steps: int, method: str = "gausslegendre"):
        """``(attributions, relative completeness error)`` (cached)."""
        key = (baseline, steps, method)
        if key not in self._cache:
            base = self.baseline(baseline)
            ig, delta = A.integrated_gradients(self.model, self.x, self.target, base, steps, method,
                                               self.batch_size, return_delta=True)
            gap = ig.sum() - delta.sum()
            self._cache[key] = (ig, float(delta.abs().sum() / gap.abs().clamp(min=1e-12)))
        return self._cache[key]

    def render(self, baseline: str, steps: int, method: str = "gausslegendre") -> np.ndarray:
        ig, _ = self.result(baseline, steps, method)
        base = np.clip(data.deprocess(self.baseline(baseline), self.model), 0, 1)
        return _side_by_side(self._photo, base, picture(ig, self.display_mode))

    def _controls_list(self):
        import ipywidgets as w
        self.base = w.Dropdown(options=self.baselines, value=self.baselines[0], description="baseline")
        self.method = w.ToggleButtons(options=self.methods, description="rule")
        self.n = w.SelectionSlider(options=self.steps_options, value=self.steps_options[min(2, len(self.steps_options) - 1)],
                                   description="steps", continuous_update=False)
        return [self.base, self.method, self.n]

    def _pending(self):
        if (self.base.value, self.n.value, self.method.value) not in self._cache:
            return (f"computing integrated gradients: {self.n.value} gradients along the path "
                    f"from the {self.base.value} baseline...")

    def _current(self):
        return self.render(self.base.value, self.n.value, self.method.value)

    def _describe(self):
        _, err = self.result(self.base.value, self.n.value, self.method.value)
        return (f"{self.method.value}, {self.n.value} steps from the {self.base.value} baseline: "
                f"completeness error {err:.2%}")
