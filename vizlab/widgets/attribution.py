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
from .. import data, plot
from ..hooks import capture
from ..models import class_name
from ._base import Explorer, image_widget, update_image

__all__ = ["DeconvnetExplorer", "SaliencyExplorer", "SmoothGradExplorer", "IntegratedGradientsExplorer"]

METHODS = {"saliency": A.saliency, "deconvnet": A.deconvnet, "guided_backprop": A.guided_backprop,
           "grad_x_input": A.grad_x_input}


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


class _Explorer(Explorer):
    """Shared plumbing: a picture, an info line, and the controls of ``_controls_list()``."""

    width = 560

    def _build(self):
        import ipywidgets as w
        controls = self._controls_list()
        self.picture = image_widget(self._current(), self.width)
        self.info = w.HTML()
        for c in controls:
            c.observe(lambda change: self._refresh(), names="value")
        box = w.VBox([w.HBox(controls[:2]), *controls[2:], self.picture, self.info])
        self._controls = box
        self._refresh()
        return box

    def _refresh(self) -> None:
        update_image(self.picture, self._current())
        self.info.value = self._describe()

class DeconvnetExplorer(_Explorer):
    """Zeiler & Fergus' experiment: pick a layer and one of its channels (ranked by how strongly
    it fires on this photo); the strongest unit of that channel is projected back to pixels with
    the ``deconvnet`` rule (or ``guided`` / ``backprop`` to compare).

    ``render(layer, rank, rule)`` returns ``[photo | projection]``; ``channels(layer)`` lists the
    channels by decreasing maximum activation.
    """

    def __init__(self, model: nn.Module, image, layers: Sequence[str], max_rank: int = 32):
        self.model, self.layers, self.max_rank = model, list(layers), max_rank
        self.x = _as_input(model, image)
        maps = capture(model, self.x, self.layers).activations
        self._order = {name: maps[name][0].flatten(1).amax(1).argsort(descending=True)[:max_rank].tolist()
                       for name in self.layers}
        self._peak = {name: maps[name][0].flatten(1).amax(1) for name in self.layers}
        self._photo = data.deprocess(self.x, model)
        self._cache: dict[tuple, torch.Tensor] = {}

    def channels(self, layer: str) -> list[int]:
        return self._order[layer]

    def projection(self, layer: str, rank: int = 0, rule: str = "deconvnet") -> torch.Tensor:
        key = (layer, rank, rule)
        if key not in self._cache:
            channel = self._order[layer][rank]
            self._cache[key] = A.neuron_gradient(self.model, self.x, layer, channel, rule=rule, position="max")
        return self._cache[key]

    def render(self, layer: str, rank: int = 0, rule: str = "deconvnet") -> np.ndarray:
        return _side_by_side(self._photo, picture(self.projection(layer, rank, rule), "rgb"))

    def _controls_list(self):
        import ipywidgets as w
        self.layer = w.Dropdown(options=self.layers, value=self.layers[0], description="layer")
        self.rule = w.ToggleButtons(options=list(("deconvnet", "guided", "backprop")), description="rule")
        self.rank = w.IntSlider(value=0, min=0, max=self.max_rank - 1, description="rank")
        return [self.layer, self.rule, self.rank]

    def _current(self):
        rank = min(self.rank.value, len(self._order[self.layer.value]) - 1)
        return self.render(self.layer.value, rank, self.rule.value)

    def _describe(self):
        layer = self.layer.value
        rank = min(self.rank.value, len(self._order[layer]) - 1)
        channel = self._order[layer][rank]
        return (f"<code>{layer}</code> channel {channel} (#{rank + 1} strongest here, peak "
                f"{float(self._peak[layer][channel]):.3g}) projected to pixels with the {self.rule.value} rule")


class SaliencyExplorer(_Explorer):
    """Method x class x display for one photo: how the backward rule and the class change the map.

    ``classes`` defaults to the model's top 5 for the photo. ``render(method, cls, display)``.
    """

    def __init__(self, model: nn.Module, image, classes: Optional[Sequence[int]] = None,
                 methods: Sequence[str] = tuple(METHODS)):
        self.model, self.methods = model, list(methods)
        self.x = _as_input(model, image)
        if classes is None:
            with torch.no_grad():
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
        self.display = w.ToggleButtons(options=["abs_max", "channel_max", "signed_sum", "rgb"], description="show")
        return [self.method, self.cls, self.display]

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
            self._samples[noise] = torch.stack([a for _, _, a in runs])
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

    def _current(self):
        return self.render(self.noise.value, self.n.value, self.kind.value)

    def _describe(self):
        return (f"{self.kind.value} of {self.method.__name__}: noise {self.noise.value:g} of the input range, "
                f"{self.n.value} samples")


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

    def _current(self):
        return self.render(self.base.value, self.n.value, self.method.value)

    def _describe(self):
        _, err = self.result(self.base.value, self.n.value, self.method.value)
        return (f"{self.method.value}, {self.n.value} steps from the {self.base.value} baseline: "
                f"completeness error {err:.2%}")
