"""FeatureMapExplorer: pick a layer and a channel, see what it computed on a photo.

Compute once: one forward pass records every offered layer for the photo. Render cheaply: a
slider move only normalises one cached map, colours it and encodes a small PNG.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .. import data, plot
from ..features import activation_layers, feature_maps
from ._base import Explorer, image_widget, inline_label, legend, note, update_image, why

__all__ = ["FeatureMapExplorer"]


class FeatureMapExplorer(Explorer):
    """Layer x channel x normalisation explorer for one photo (``explorer.image = ...`` to change it).

    ``channel = -1`` shows every channel of the layer as a grid (the first ``max_channels``);
    ``normalization`` is ``"channel"`` (each map stretched to its own range) or ``"shared"``.
    ``render(layer, channel, normalization)`` returns the RGB array the widget shows.
    """

    def __init__(self, model: nn.Module, image, layers: Optional[Sequence[str]] = None,
                 max_channels: int = 64, cmap: str = "viridis", width: int = 448):
        self.model = model
        self.layers = list(layers) if layers is not None else activation_layers(model)
        if not self.layers:
            raise ValueError("the model has no activation modules to show; pass layers=[...] by name")
        self.max_channels, self.cmap, self.width = max_channels, cmap, width
        self._maps: dict[str, np.ndarray] = {}
        self._grids: dict[tuple, np.ndarray] = {}
        self._controls = None
        self.image = image

    # -- compute (once per photo) ---------------------------------------------------------------
    @property
    def image(self):
        return self._image

    @image.setter
    def image(self, image) -> None:
        self._image = image
        x = image if isinstance(image, torch.Tensor) else data.preprocess(image, self.model)
        with self.busy("computing the feature maps of the new photo..."):
            maps = feature_maps(self.model, x, self.layers)
        self._maps = {name: m[0].numpy() for name, m in maps.items() if m.ndim == 4}
        self._grids.clear()
        if self._controls is not None:
            self._refresh()

    def maps(self, layer: str) -> np.ndarray:
        """The cached ``[C, H, W]`` output of ``layer`` for the current photo."""
        if layer not in self._maps:
            raise KeyError(f"{layer!r} is not one of this explorer's spatial layers: {', '.join(self._maps)}")
        return self._maps[layer]

    # -- render (every slider move) -------------------------------------------------------------
    def _grid(self, layer: str, normalization: str) -> np.ndarray:
        key = (layer, normalization)
        if key not in self._grids:
            maps = self.maps(layer)[:self.max_channels]
            # No more pixels than the widget shows: average-pool big maps before tiling.
            per_row = int(np.ceil(np.sqrt(len(maps))))
            factor = max(1, int(np.ceil(maps.shape[-1] * per_row / self.width)))
            if factor > 1:
                maps = torch.nn.functional.avg_pool2d(torch.from_numpy(maps), factor, ceil_mode=True).numpy()
            # Separators and empty tiles are NaN: drawn as the page, not as the top of the colour map.
            tiles = plot.tile_channels(maps, normalization=normalization, max_channels=None, fill=np.nan)
            self._grids[key] = plot.colorize(tiles, self.cmap, normalized=True)
        return self._grids[key]

    def render(self, layer: str, channel: int = -1, normalization: str = "channel") -> np.ndarray:
        """The picture for these control values: ``H x W x 3`` floats in [0, 1]."""
        maps = self.maps(layer)
        if channel < 0:
            return self._grid(layer, normalization)
        if channel >= len(maps):
            raise IndexError(f"{layer} has {len(maps)} channels (0..{len(maps) - 1}); got {channel}")
        lo, hi = (None, None) if normalization == "channel" else (float(maps.min()), float(maps.max()))
        return plot.colorize(plot.normalize(maps[channel], lo, hi), self.cmap, normalized=True)

    def dead_channels(self, layer: str) -> np.ndarray:
        """Indices of the channels whose map is constant on this photo (usually all zero after a
        ReLU): they show as flat tiles and carry no pattern."""
        maps = self.maps(layer)
        flat = maps.reshape(len(maps), -1)
        return np.flatnonzero(flat.max(1) - flat.min(1) <= plot.EPS)

    # -- controls -------------------------------------------------------------------------------
    def _build(self):
        import ipywidgets as w
        first = next(iter(self._maps))
        wide = {"description_width": "80px"}
        self.layer = w.Dropdown(options=list(self._maps), value=first, description="layer", style=wide)
        self.normalization = w.ToggleButtons(options=["channel", "shared"], description="normalise",
                                             style={**wide, "button_width": "80px"})
        self.channel = w.IntSlider(value=-1, min=-1, max=len(self.maps(first)) - 1, description="channel",
                                   continuous_update=True, style=wide, layout=w.Layout(width="360px"))
        # A 1,280-channel slider skips ~10 channels per pixel: type a number or step with the arrows.
        self.channel_box = w.BoundedIntText(value=-1, min=-1, max=self.channel.max, step=1,
                                            layout=w.Layout(width="80px"))
        self._links = [w.link((self.channel, "value"), (self.channel_box, "value")),
                       w.link((self.channel, "max"), (self.channel_box, "max"))]
        self.legend = w.HTML()
        self.info = w.HTML()
        self.picture = image_widget(self.render(first), self.width)
        for control in (self.layer, self.channel, self.normalization):
            control.observe(lambda change: self._refresh(), names="value")
        self._controls = w.VBox([self.layer, inline_label(self.normalization), w.HBox([self.channel, self.channel_box]),
                                 self.picture, self.legend, self.info])
        self._refresh()
        return self._controls

    def _refresh(self) -> None:
        layer = self.layer.value
        maps = self.maps(layer)
        n = len(maps)
        if self.channel.max != n - 1:
            self.channel.max = n - 1  # fires a second refresh only if the value was clipped
        channel, norm = self.channel.value, self.normalization.value
        update_image(self.picture, self.render(layer, channel, norm))
        shape = "x".join(map(str, maps.shape))
        dead = self.dead_channels(layer)
        if channel < 0:
            shown = min(n, self.max_channels)
            what = f"all channels (first {shown}) -- type a number in the box to see one"
            k = int((dead < shown).sum())
            remark = note(f"{k} of these {shown} channels are all zero on this photo (flat dark tiles)") if k else ""
        else:
            what = f"channel {channel}"
            remark = (why(f"channel {channel} is all zero on this photo ({float(maps[channel].max()):.3g} everywhere): "
                          "a dead channel for this input, nothing to see, whatever the normalisation") if channel in dead else "")
        self.info.value = f"<code>{layer}</code> output {shape}: {what}{remark}"
        self.legend.value = self._legend(layer, channel, norm)

    def _legend(self, layer: str, channel: int, normalization: str) -> str:
        maps = self.maps(layer)
        if normalization == "shared":
            return legend(self.cmap, f"{float(maps.min()):.3g}", f"{float(maps.max()):.3g}",
                          "activation (one scale for the whole layer):")
        if channel < 0:
            return legend(self.cmap, "channel's lowest", "channel's highest", "each tile stretched to its own range:")
        m = maps[channel]
        return legend(self.cmap, f"{float(m.min()):.3g}", f"{float(m.max()):.3g}", f"activation of channel {channel}:")
