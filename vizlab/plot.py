"""Pictures of what the other modules computed -- matplotlib only, nothing computed here.

Every function that draws takes ``ax=`` (a new figure when omitted) and returns the axes.
The array helpers (``normalize``, ``tile_channels``, ``colorize``, ``blend``, ``to_png``) return
plain numpy arrays / PNG bytes, so widgets can show them without a matplotlib redraw.
An all-zero (constant) map is drawn as a blank image, never as NaN.
"""
from __future__ import annotations

import io
import math
from typing import Optional, Sequence, Union

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

Array = Union[np.ndarray, torch.Tensor]
EPS = 1e-12


def as_numpy(a) -> np.ndarray:
    """Tensor / PIL image / array -> numpy (float for tensors, detached, on the CPU)."""
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu().numpy()
    if isinstance(a, Image.Image):
        return np.asarray(a.convert("RGB"), dtype=np.float32) / 255.0
    return np.asarray(a)


def as_image(img) -> np.ndarray:
    """A picture to draw: PIL, ``H x W x 3`` in [0, 1] or 0..255, or ``[3, H, W]`` / ``[1, 3, H, W]``
    already in [0, 1] (use ``vizlab.deprocess`` first for a normalised model input)."""
    a = as_numpy(img)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    return a


def normalize(a: Array, lo: Optional[float] = None, hi: Optional[float] = None) -> np.ndarray:
    """Min-max to [0, 1]: ``(a - lo) / (hi - lo)``; a constant map gives zeros (never NaN)."""
    a = as_numpy(a).astype(np.float32)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    if hi - lo < EPS:
        return np.zeros_like(a)
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0)


def tile_channels(maps: Array, ncols: Optional[int] = None, normalization: str = "channel",
                  max_channels: Optional[int] = 64, padding: int = 1, fill: float = 1.0) -> np.ndarray:
    """Channels ``[C, H, W]`` (or ``[1, C, H, W]``) laid out as one 2-D mosaic in [0, 1].

    ``normalization="channel"`` stretches each channel to its own range (shows every pattern);
    ``"shared"`` uses one range for all (shows which channels are strong). Separators and empty
    tiles hold ``fill``: 1.0 (white in a grey map) by default; ``fill=np.nan`` keeps them out of
    the colour scale -- ``colorize`` and ``channel_grid`` paint NaN as the page background, so no
    separator reads as "strongest activation" (the top colour of the map).
    """
    m = as_numpy(maps)
    if m.ndim == 4:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"expected channels [C, H, W], got shape {m.shape}")
    if max_channels is not None:
        m = m[:max_channels]
    if normalization == "channel":
        m = np.stack([normalize(c) for c in m])
    elif normalization == "shared":
        m = normalize(m)
    else:
        raise ValueError(f"normalization must be 'channel' or 'shared', not {normalization!r}")
    c, h, w = m.shape
    ncols = ncols or math.ceil(math.sqrt(c))
    nrows = math.ceil(c / ncols)
    out = np.full((nrows * (h + padding) - padding, ncols * (w + padding) - padding), fill, dtype=np.float32)
    for i in range(c):
        r, k = divmod(i, ncols)
        out[r * (h + padding):r * (h + padding) + h, k * (w + padding):k * (w + padding) + w] = m[i]
    return out


BACKGROUND = (1.0, 1.0, 1.0)   # where a map has no data (NaN): the page, not a colour of the scale


def colorize(map2d: Array, cmap: str = "jet", normalized: bool = False) -> np.ndarray:
    """A 2-D map -> ``H x W x 3`` RGB floats through a matplotlib colormap; NaN (no data, e.g.
    the separators of ``tile_channels(..., fill=np.nan)``) becomes ``BACKGROUND``."""
    m = as_numpy(map2d) if normalized else normalize(map2d)
    rgb = matplotlib.colormaps[cmap](np.nan_to_num(m, nan=0.0))[..., :3].astype(np.float32)
    missing = np.isnan(m)
    if missing.any():
        rgb[missing] = BACKGROUND
    return rgb


def resize_map(map2d: Array, size: tuple) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``size = (H, W)`` (how CAMs reach the photo's resolution)."""
    t = torch.as_tensor(as_numpy(map2d), dtype=torch.float32)[None, None]
    return torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def blend(image, heatmap: Array, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """``(1 - alpha) * image + alpha * colormap(normalize(heatmap))`` as ``H x W x 3`` in [0, 1];
    the heatmap is resized to the image first."""
    img = as_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    heat = as_numpy(heatmap)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    if heat.shape != img.shape[:2]:
        heat = resize_map(heat, img.shape[:2])
    return np.clip((1 - alpha) * img + alpha * colorize(heat, cmap), 0, 1)


def to_png(rgb_or_gray: np.ndarray, scale: int = 1) -> bytes:
    """Encode an array in [0, 1] as PNG bytes (nearest-neighbour upscaled by ``scale``)."""
    a = (np.clip(as_numpy(rgb_or_gray), 0, 1) * 255).round().astype(np.uint8)
    img = Image.fromarray(a)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    return ax


def _finish(ax, title):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def show_image(image, ax=None, title: Optional[str] = None, cmap: str = "gray"):
    """Draw a photo (see ``as_image`` for the accepted forms)."""
    ax = _axes(ax)
    img = as_image(image)
    ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0, vmax=1)
    return _finish(ax, title)


def add_colorbar(ax, mappable, label: Optional[str] = None):
    """A colour bar beside ``ax`` -- a colour that encodes a value needs its scale next to it."""
    bar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7)
    if label:
        bar.set_label(label, fontsize=8)
    return bar


def _is_signed(m: np.ndarray) -> bool:
    return bool(m.min() < 0 < m.max())


def show_map(map2d: Array, ax=None, title: Optional[str] = None, cmap: Optional[str] = None,
             symmetric: Optional[bool] = None, colorbar: bool = True, label: Optional[str] = None):
    """Draw a 2-D map with its colour bar (in the map's own units).

    A signed map (``symmetric=None`` and values on both sides of zero, or ``symmetric=True``) gets a
    diverging colormap centred on zero: red raises the score, blue lowers it, white is zero. An unsigned
    map is drawn from its minimum to its maximum. ``colorbar=False`` only where the scale is shown
    elsewhere (e.g. one bar for a row of maps drawn on one scale)."""
    ax = _axes(ax)
    m = as_numpy(map2d).astype(np.float64)
    if symmetric is None:
        symmetric = _is_signed(m)
    if symmetric:
        bound = max(float(np.abs(m).max()), EPS)
        im = ax.imshow(m, cmap=cmap or "bwr", vmin=-bound, vmax=bound)
    else:
        lo, hi = float(m.min()), float(m.max())
        im = ax.imshow(m, cmap=cmap or "viridis", vmin=lo, vmax=hi if hi > lo else lo + 1)
    if colorbar:
        add_colorbar(ax, im, label)
    return _finish(ax, title)


def heatmap_overlay(image, heatmap: Array, ax=None, title: Optional[str] = None, alpha: float = 0.5,
                    cmap: str = "jet", colorbar: bool = True, label: Optional[str] = None):
    """Draw a heatmap (any resolution) over a photo, e.g. a CAM over the image the model saw; the colour
    bar gives the heatmap's values (its minimum is the colormap's first colour, its maximum the last)."""
    ax = _axes(ax)
    ax.imshow(blend(image, heatmap, alpha, cmap))
    if colorbar:
        heat = as_numpy(heatmap)
        lo, hi = float(heat.min()), float(heat.max())
        scale = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1),
                                             matplotlib.colormaps[cmap])
        add_colorbar(ax, scale, label)
    return _finish(ax, title)


def channel_grid(maps: Array, ax=None, title: Optional[str] = None, ncols: Optional[int] = None,
                 normalization: str = "channel", max_channels: Optional[int] = 64, cmap: str = "viridis",
                 colorbar: bool = True):
    """Draw channels ``[C, H, W]`` as one mosaic (see ``tile_channels``); separators and empty
    tiles are left in the page colour, outside the colour scale. The colour bar runs 0..1: each
    tile's own min..max (``normalization="channel"``) or the layer's (``"shared"``)."""
    ax = _axes(ax)
    colours = matplotlib.colormaps[cmap].with_extremes(bad=BACKGROUND)
    im = ax.imshow(tile_channels(maps, ncols, normalization, max_channels, fill=np.nan), cmap=colours, vmin=0, vmax=1)
    if colorbar:
        add_colorbar(ax, im, "each channel: min → max" if normalization == "channel" else "layer: min → max")
    return _finish(ax, title)


def image_grid(images: Sequence, titles: Optional[Sequence[str]] = None, ncols: int = 4,
               cmap: str = "gray", size: float = 2.6, axes=None) -> np.ndarray:
    """Draw several pictures / 2-D maps in a grid; returns the array of axes (unused ones hidden)."""
    n = len(images)
    if axes is None:
        ncols = min(ncols, n)
        nrows = math.ceil(n / ncols)
        _, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    flat = np.asarray(axes).reshape(-1)
    for i, ax in enumerate(flat):
        if i >= n:
            ax.axis("off")
            continue
        img = as_image(images[i])
        if img.ndim == 2 and (img.min() < 0 or img.max() > 1):
            img = normalize(img)
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0, vmax=1)
        _finish(ax, titles[i] if titles else None)
    return np.asarray(axes)


__all__ = ["normalize", "tile_channels", "colorize", "resize_map", "blend", "to_png", "show_image", "show_map",
           "heatmap_overlay", "channel_grid", "image_grid", "add_colorbar", "as_image", "as_numpy"]
