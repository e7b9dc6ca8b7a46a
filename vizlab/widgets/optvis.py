"""ActivationMaxExplorer: pick a layer, a channel and a parameterisation; see the image that
channel likes most (rendered by ``vizlab.optvis.render``) and, beside it, the dataset examples: the
nine photo crops that excite the channel most (``vizlab.dataset_examples``).

Compute once: rendering is the expensive part (tens of optimisation steps), so a layer's channels
are rendered a block at a time in *one* batch (image ``i`` maximises channel ``first + i``) and
cached per (layer, block, parameterisation). Moving the channel slider within a rendered block
only encodes a small PNG; a new block renders once, with a progress bar. The dataset examples need
one forward pass over the photo pool per layer (cached); a channel's top nine are then a sort.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .. import data as _data
from .. import exemplars
from .. import hooks
from ..models import probe_input
from ..optvis import objectives as O
from ..optvis import param as P
from ..optvis import transforms as T
from ..optvis.render import ZeroGradientWarning, forward_objective, render
from ._base import Explorer, image_widget, note, update_image

__all__ = ["ActivationMaxExplorer", "PARAMETERISATIONS", "SHOW"]

SHOW = ("render", "render + dataset examples")

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
    seeded by ``seed`` (the same settings always give the same image). A channel whose gradient was
    zero at every step (a dead channel) is listed by ``dead(layer, parameterisation)`` and the info
    line says so: its picture is only the starting noise.

    ``examples(layer, channel)`` is the channel's ``vizlab.dataset_examples`` over ``pool`` (default: the photos
    vizlab ships at 224 and 320 px, ``exemplars.default_pool``); the "show" buttons put them beside the render
    as a 3 x 3 grid.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], size: int = 64, steps: int = 48,
                 block: int = 8, lr: float = 0.05, seed: int = 0, width: int = 256, pool=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected a torch.nn.Module as the model, got {type(model).__name__}"
                            + ("; load it first: vizlab.load(name)" if isinstance(model, str) else ""))
        layers = [layers] if isinstance(layers, str) else layers
        if not layers:
            raise ValueError("pass the layers to explore by name, e.g. layers=['blocks.2', 'blocks.8']")
        self.model, self.layers = model, hooks.layer_list(list(layers))
        self.size = hooks.check_count("size (pixels)", size, 2)
        self.steps = hooks.check_count("steps", steps, 1)
        self.block = hooks.check_count("block (channels rendered together)", block, 1)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr (the step size) must be a finite number > 0, e.g. 0.05, got {lr!r}")
        self.lr, self.seed = float(lr), hooks.check_count("seed", seed, 0)
        self.width = hooks.check_count("width (pixels)", width, 1)
        self._cache: dict[tuple, np.ndarray] = {}
        self._pool, self._acts = pool, {}
        self._dead: dict[tuple, list] = {}
        self._fixed_size: dict[str, bool] = {}
        self._channels = {layer: self._count_channels(layer) for layer in self.layers}
        self._controls = None
        self._bar = None

    def _count_channels(self, layer: str) -> int:
        """Run a zero image with the model's own input channels and dtype (``probe_input``) at the
        size the explorer renders; a 1-channel model (``digits_cnn``) gets a 1-channel probe."""
        probe = probe_input(self.model)
        x = probe.new_zeros(1, probe.shape[1], self.size, self.size)
        A = hooks.capture(self.model, x, layer).activations[layer]
        if A.ndim != 4:
            raise ValueError(f"{layer} gives {list(A.shape)}, not a map [N, C, H, W]; the explorer shows "
                             "convolutional channels: pick a convolutional layer (vizlab.layers(model) lists them)")
        self._fixed_size[layer] = not self._runs_at(layer, self.size + 2)
        return A.shape[1]

    def _runs_at(self, layer: str, size: int) -> bool:
        """Whether ``layer`` can be computed for an image of ``size`` px (the transforms pad, jitter
        and scale it). A model that takes one size only (``digits_cnn``: 32 px) cannot: its renders
        then end the transforms with a resize back to ``self.size``."""
        grey = torch.full((1, 3, size, size), 0.5)
        try:
            with hooks.eval_mode(self.model), torch.no_grad():
                forward_objective(self.model, O.layer_l2(layer), grey, lambda x, g: x, None)
        except ValueError:
            return False
        return True

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
            steps_tf = transforms(self.size)
            if steps_tf and self._fixed_size[layer]:
                steps_tf = steps_tf + [T.resize(self.size)]
            g = torch.Generator().manual_seed(self.seed)
            post = None
            if self._bar is not None:
                self._bar.max, self._bar.value = self.steps, 0
                post = lambda i, p: setattr(self._bar, "value", i + 1)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ZeroGradientWarning)
                imgs, _ = render(self.model, O.channels(layer, chans), param=make(self.size, len(chans), g),
                                 transforms=steps_tf, steps=self.steps, lr=self.lr, generator=g,
                                 progress=False, post_step=post)
            for w in caught:
                if not isinstance(w.message, ZeroGradientWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            dead = [first + i for w in caught if isinstance(w.message, ZeroGradientWarning) for i in w.message.images]
            self._dead[key] = sorted(set(dead))
            self._cache[key] = imgs.permute(0, 2, 3, 1).numpy()
        return self._cache[key]

    def dead(self, layer: str, parameterisation: str = "fft+decorrelate") -> list:
        """The channels of ``layer`` rendered so far whose gradient was exactly zero at every step."""
        return sorted(c for (L, _, p), cs in self._dead.items() if L == layer and p == parameterisation for c in cs)

    def render(self, layer: str, channel: int, parameterisation: str = "fft+decorrelate") -> np.ndarray:
        """The visualisation of ``channel`` of ``layer``: ``H x W x 3`` floats in [0, 1]."""
        if layer not in self._channels:
            raise KeyError(f"{layer!r} is not one of this explorer's layers: {', '.join(self.layers)}")
        channel = O._whole("channel", channel, None)
        n = self.channels(layer)
        if not 0 <= channel < n:
            raise IndexError(f"{layer} has {n} channels (0..{n - 1}); got {channel}")
        first = channel - channel % self.block
        return self.images(layer, first, parameterisation)[channel - first]

    def examples(self, layer: str, channel: int, k: int = 9) -> "exemplars.DatasetExamples":
        """The ``k`` crops of the pool that excite ``channel`` of ``layer`` most (one forward pass per layer, cached)."""
        if layer not in self._channels:
            raise KeyError(f"{layer!r} is not one of this explorer's layers: {', '.join(self.layers)}")
        if self._pool is None:
            self._pool = exemplars.default_pool(self.model)
        if layer not in self._acts:
            self._acts[layer] = exemplars.layer_activations(self.model, layer, self._pool)
        return exemplars.dataset_examples(self.model, layer, channel, self._pool, k=k, activations=self._acts[layer])

    def beside(self, layer: str, channel: int, parameterisation: str = "fft+decorrelate") -> np.ndarray:
        """The render (left) and a 3 x 3 grid of the channel's dataset examples (right), one ``H x W x 3`` picture
        whose halves are equally tall; a white gap of 1/16 of the height between them."""
        picture = self.render(layer, channel, parameterisation)
        ex = self.examples(layer, channel)
        crops = ex.crops.expand(-1, 3, -1, -1) if ex.crops.shape[1] == 1 else ex.crops   # grey digits as RGB
        crops = _data.denormalize(crops, self.model).clamp(0, 1)
        side = max(picture.shape[0] // 3, 1)
        tiles = torch.nn.functional.interpolate(crops, size=(side, side), mode="bilinear", antialias=True,
                                                align_corners=False).permute(0, 2, 3, 1).numpy()
        grid = np.ones((3 * side, 3 * side, 3))
        for q, tile in enumerate(tiles):
            grid[(q // 3) * side:(q // 3 + 1) * side, (q % 3) * side:(q % 3 + 1) * side] = tile
        height = picture.shape[0]
        grid = np.pad(grid, ((0, height - grid.shape[0]), (0, 0), (0, 0)), constant_values=1.0)
        gap = np.ones((height, max(height // 16, 1), 3))
        return np.concatenate([picture, gap, grid], axis=1)

    # -- controls -------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w
        self.layer = w.Dropdown(options=self.layers, value=self.layers[0], description="layer")
        self.channel = w.IntSlider(value=0, min=0, max=self.channels(self.layers[0]) - 1, description="channel")
        self.param = w.ToggleButtons(options=list(PARAMETERISATIONS), description="image as")
        self.show = w.ToggleButtons(options=list(SHOW), value=SHOW[0], description="show")
        self._bar = w.IntProgress(value=0, min=0, max=self.steps, description="rendering")
        self.info = w.HTML()
        self.picture = image_widget(self.render(self.layers[0], 0, self.param.value), self.width)
        for control in (self.layer, self.channel, self.param, self.show):
            control.observe(lambda change: self._refresh(), names="value")
        self._controls = w.VBox([w.HBox([self.layer, self.param]), w.HBox([self.channel, self.show]), self._bar,
                                 self.picture, self.info])
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
        examples = self.show.value != SHOW[0]
        if examples:
            if layer in self._acts:
                picture = self.beside(layer, c, self.param.value)
            else:                               # one forward pass over the photo pool for this layer
                with self.busy(f"finding the crops of the photos that excite {layer} most..."):
                    picture = self.beside(layer, c, self.param.value)
        update_image(self.picture, picture)
        self.info.value = (f"<code>{layer}</code> channel {c} of {n}, {self.param.value}: channels "
                           f"{first}-{min(first + self.block, n) - 1} rendered together, {self.steps} steps, "
                           f"{self.size} px")
        if examples:
            ex = self.examples(layer, c)
            self.info.value += note(f"right: the 9 crops ({ex.field.size} px receptive fields) of the pool's "
                                    f"{len(self._pool[0])} images that excite channel {c} most, activations "
                                    f"{float(ex.values[0]):.2f} down to {float(ex.values[-1]):.2f}")
        if c in self._dead.get((layer, first, self.param.value), ()):
            self.info.value += note(f"channel {c} is dead here: its gradient was exactly zero at every step "
                                    "(it never fires for these images), so the picture is only the starting noise")
