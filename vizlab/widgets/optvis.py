"""ActivationMaxExplorer: pick a layer, a channel and a parameterisation; see the image that
channel likes most (rendered by ``vizlab.optvis.render``).

Compute once: rendering is the expensive part (tens of optimisation steps), so a layer's channels
are rendered a block at a time in *one* batch (image ``i`` maximises channel ``first + i``) and
cached per (layer, block, parameterisation). Moving the channel slider within a rendered block
only encodes a small PNG; a new block renders once, with a progress bar.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .. import hooks
from ..optvis import objectives as O
from ..optvis import param as P
from ..optvis import transforms as T
from ..optvis.render import render
from ._base import Explorer, image_widget, update_image

__all__ = ["ActivationMaxExplorer", "PARAMETERISATIONS"]

# name -> (make the ImageParam, transforms); "naive" is the classic recipe: pixels, no transforms.
PARAMETERISATIONS = {
    "fft+decorrelate": (lambda size, n, g: P.fft(size, batch=n, generator=g), lambda s: T.standard(s / 224)),
    "pixels": (lambda size, n, g: P.pixels(size, batch=n, generator=g), lambda s: T.standard(s / 224)),
    "naive": (lambda size, n, g: P.pixels(size, batch=n, generator=g), lambda s: []),
}


class ActivationMaxExplorer(Explorer):
    """Layer x channel x parameterisation explorer of channel visualisations.

    ``render(layer, channel, parameterisation)`` returns the picture (``H x W x 3`` in [0, 1]);
    ``block`` channels are rendered together (one batch), ``steps`` Adam steps at ``size`` px,
    seeded by ``seed`` (the same settings always give the same image).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], size: int = 64, steps: int = 48,
                 block: int = 8, lr: float = 0.05, seed: int = 0, width: int = 256):
        if not layers:
            raise ValueError("pass the layers to explore by name, e.g. layers=['blocks.2', 'blocks.8']")
        self.model, self.layers = model, list(layers)
        self.size, self.steps, self.block, self.lr, self.seed, self.width = size, steps, block, lr, seed, width
        self._cache: dict[tuple, np.ndarray] = {}
        self._channels = {layer: self._count_channels(layer) for layer in self.layers}
        self._controls = None
        self._bar = None

    def _count_channels(self, layer: str) -> int:
        x = torch.zeros(1, 3, self.size, self.size)
        return hooks.capture(self.model, x, layer).activations[layer].shape[1]

    def channels(self, layer: str) -> int:
        """How many channels ``layer`` has."""
        return self._channels[layer]

    # -- compute (once per block of channels) --------------------------------------------------
    def images(self, layer: str, first: int, parameterisation: str = "fft+decorrelate") -> np.ndarray:
        """Rendered images ``[block, H, W, 3]`` for channels ``first, first + 1, ...`` (cached)."""
        if parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"parameterisation must be one of {list(PARAMETERISATIONS)}, got {parameterisation!r}")
        key = (layer, first, parameterisation)
        if key not in self._cache:
            chans = list(range(first, min(first + self.block, self.channels(layer))))
            make, transforms = PARAMETERISATIONS[parameterisation]
            g = torch.Generator().manual_seed(self.seed)
            post = None
            if self._bar is not None:
                self._bar.max, self._bar.value = self.steps, 0
                post = lambda i, p: setattr(self._bar, "value", i + 1)
            imgs, _ = render(self.model, O.channels(layer, chans), param=make(self.size, len(chans), g),
                             transforms=transforms(self.size), steps=self.steps, lr=self.lr, generator=g,
                             progress=False, post_step=post)
            self._cache[key] = imgs.permute(0, 2, 3, 1).numpy()
        return self._cache[key]

    def render(self, layer: str, channel: int, parameterisation: str = "fft+decorrelate") -> np.ndarray:
        """The visualisation of ``channel`` of ``layer``: ``H x W x 3`` floats in [0, 1]."""
        if layer not in self._channels:
            raise KeyError(f"{layer!r} is not one of this explorer's layers: {', '.join(self.layers)}")
        n = self.channels(layer)
        if not 0 <= channel < n:
            raise IndexError(f"{layer} has {n} channels (0..{n - 1}); got {channel}")
        first = channel - channel % self.block
        return self.images(layer, first, parameterisation)[channel - first]

    # -- controls -------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w
        self.layer = w.Dropdown(options=self.layers, value=self.layers[0], description="layer")
        self.channel = w.IntSlider(value=0, min=0, max=self.channels(self.layers[0]) - 1, description="channel")
        self.param = w.ToggleButtons(options=list(PARAMETERISATIONS), description="image as")
        self._bar = w.IntProgress(value=0, min=0, max=self.steps, description="rendering")
        self.info = w.HTML()
        self.picture = image_widget(self.render(self.layers[0], 0, self.param.value), self.width)
        for control in (self.layer, self.channel, self.param):
            control.observe(lambda change: self._refresh(), names="value")
        self._controls = w.VBox([w.HBox([self.layer, self.param]), self.channel, self._bar, self.picture, self.info])
        self._refresh()
        return self._controls

    def _refresh(self) -> None:
        layer = self.layer.value
        n = self.channels(layer)
        if self.channel.max != n - 1:
            self.channel.max = n - 1
        c = self.channel.value
        first = c - c % self.block
        if (layer, first, self.param.value) in self._cache:
            picture = self.render(layer, c, self.param.value)
        else:                                   # a new block: seconds of rendering, say so at once
            with self.busy(f"rendering channels {first}-{min(first + self.block, n) - 1} "
                           f"({self.steps} steps)..."):
                picture = self.render(layer, c, self.param.value)
        update_image(self.picture, picture)
        self.info.value = (f"<code>{layer}</code> channel {c} of {n}, {self.param.value}: channels "
                           f"{first}-{min(first + self.block, n) - 1} rendered together, {self.steps} steps, "
                           f"{self.size} px")
