"""StyleExplorer: network x style weight x TV weight over precomputed style-transfer results.

Style transfer takes seconds to minutes per setting, so nothing is optimised when a control
moves: the explorer shows results computed once (chapter 11 loads them from
``vizlab/assets/style_cache_grid.npz``, made by ``data/make_style_cache.py``) next to the content and
style images, with the judge's numbers for that setting.
"""
from __future__ import annotations

import math
import numbers
from typing import Mapping, Sequence

import numpy as np

from ._base import Explorer, image_widget, update_image

__all__ = ["StyleExplorer"]


class StyleExplorer(Explorer):
    """Pick a network, a style weight and a TV weight; see the result (no recomputation).

    ``images[i, j, k]``: the ``H x W x 3`` result (uint8 or floats in [0, 1]) for ``networks[i]``,
    ``style_weights[j]``, ``tv_weights[k]``; ``metrics`` maps a name to an array of the same
    ``[i, j, k]`` shape (e.g. ``{"judge": ..., "SSIM": ...}``). ``render(network, style_weight,
    tv_weight)`` returns content | style | result side by side. ``content`` and ``style``: ``H x W x 3``
    pictures (uint8 or floats in [0, 1]) as tall as the results.
    """

    def __init__(self, images: np.ndarray, networks: Sequence[str], style_weights: Sequence[float],
                 tv_weights: Sequence[float], content: np.ndarray, style: np.ndarray,
                 metrics: Mapping[str, np.ndarray] = (), width: int = 480):
        self.networks = [str(n) for n in _options(networks, "networks")]
        self.style_weights = [_number(s, "style_weights") for s in _options(style_weights, "style_weights")]
        self.tv_weights = [_number(t, "tv_weights") for t in _options(tv_weights, "tv_weights")]
        images = np.asarray(images)
        shape = (len(networks), len(style_weights), len(tv_weights))
        if images.ndim != 6 or images.shape[:3] != shape or images.shape[-1] != 3:
            raise ValueError(f"images must be [networks, style weights, TV weights, H, W, 3] = {shape} + (H, W, 3); "
                             f"got {images.shape}")
        self.metrics = {k: np.asarray(v) for k, v in dict(metrics).items()}
        for k, v in self.metrics.items():
            if v.shape != shape:
                raise ValueError(f"metric {k!r} must have one value per setting, shape {shape}; got {v.shape}")
        self._images = _as_float(images, "images")
        self._content, self._style = _as_float(content, "content"), _as_float(style, "style")
        for what, pic in (("content", self._content), ("style", self._style)):
            if pic.ndim != 3 or pic.shape[-1] != 3 or pic.shape[0] != images.shape[3]:
                raise ValueError(f"{what} must be an H x W x 3 picture as tall as the results (H = {images.shape[3]}), "
                                 f"got {pic.shape}; vizlab.plot.as_image(pixels) makes one")
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"width must be a whole number of pixels >= 1, got {width!r}")
        self.width = width
        self._controls = None

    def _index(self, network: str, style_weight: float, tv_weight: float) -> tuple:
        try:
            return (self.networks.index(network), self.style_weights.index(float(style_weight)),
                    self.tv_weights.index(float(tv_weight)))
        except ValueError:
            raise KeyError(f"no cached result for ({network!r}, {style_weight}, {tv_weight}); networks "
                           f"{self.networks}, style weights {self.style_weights}, TV weights {self.tv_weights}") from None

    def result(self, network: str, style_weight: float, tv_weight: float) -> np.ndarray:
        """The cached result ``H x W x 3`` in [0, 1]."""
        return self._images[self._index(network, style_weight, tv_weight)]

    def numbers(self, network: str, style_weight: float, tv_weight: float) -> dict:
        """The metrics of this setting, ``{name: value}``."""
        i = self._index(network, style_weight, tv_weight)
        return {k: float(v[i]) for k, v in self.metrics.items()}

    def render(self, network: str, style_weight: float, tv_weight: float) -> np.ndarray:
        """content | style | result, separated by white 4-px gaps."""
        gap = np.ones((self._content.shape[0], 4, 3))
        return np.concatenate([self._content, gap, self._style, gap,
                               self.result(network, style_weight, tv_weight)], axis=1)

    def _build(self):
        import ipywidgets as w
        self.network = w.ToggleButtons(options=self.networks, description="network")
        self.style_weight = w.SelectionSlider(options=self.style_weights, value=self.style_weights[0],
                                              description="style weight")
        self.tv_weight = w.SelectionSlider(options=self.tv_weights, value=self.tv_weights[0], description="TV weight")
        self.picture = image_widget(self.render(self.networks[0], self.style_weights[0], self.tv_weights[0]),
                                    self.width)
        self.info = w.HTML()
        for control in (self.network, self.style_weight, self.tv_weight):
            control.observe(lambda change: self._refresh(), names="value")
        self._refresh()
        return w.VBox([self.network, self.style_weight, self.tv_weight, self.picture, self.info])

    def _refresh(self) -> None:
        args = (self.network.value, self.style_weight.value, self.tv_weight.value)
        update_image(self.picture, self.render(*args))
        nums = ", ".join(f"{k} {v:.3f}" for k, v in self.numbers(*args).items())
        self.info.value = f"content | style | result &nbsp; {nums}"


def _options(values, name: str) -> list:
    """A control's options: a non-empty list without repeats (a repeat could never be picked)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty list (one entry per setting), got {values!r}")
    values = list(values)
    if len(set(map(str, values))) != len(values):
        raise ValueError(f"{name} has repeated entries {values}; each setting must appear once")
    return values


def _number(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{name} must hold finite numbers, got {v!r}")
    return float(v)


def _as_float(a: np.ndarray, what: str) -> np.ndarray:
    """uint8 (0..255) or floats in [0, 1] -> float64 in [0, 1]; anything else is refused (floats or ints
    in 0..255 would be shown white)."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{what} must be uint8 (0..255) or floats in [0, 1], got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.size and not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(f"{what} must be uint8 (0..255) or floats in [0, 1], got values in [{a.min():g}, {a.max():g}]"
                         f"; for 0..255 values use .astype(np.uint8) or divide by 255")
    return a
