"""Localisation: does the map point at the object?

The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016):
is the map's maximum inside the object's box? The energy-based pointing game (Wang et al.,
"Score-CAM", CVPR workshops 2020): which fraction ``sum_{ij in box} m_ij / sum_ij m_ij`` of the
map lies inside the box?
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .. import targets as _targets
from ..hooks import check_count, check_input
from .maps import MethodLike, explain

Box = Sequence[float]   # (x0, y0, x1, y1) in pixels of the model input; x1, y1 exclusive


def _box(box, where: str = "a box") -> tuple[float, float, float, float]:
    """One box ``(x0, y0, x1, y1)`` (list, tuple, numpy array or tensor) as four finite floats."""
    if box is None or isinstance(box, (str, bytes, dict)):
        raise TypeError(f"{where} is four numbers (x0, y0, x1, y1) in pixels of the model input, "
                        f"got {type(box).__name__} {box!r}")
    try:
        v = np.asarray(box.detach().cpu() if isinstance(box, torch.Tensor) else box, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where} is four numbers (x0, y0, x1, y1) in pixels of the model input, got {box!r}") from None
    if v.shape != (4,):
        raise ValueError(f"{where} is four numbers (x0, y0, x1, y1) in pixels of the model input, got "
                         f"{v.size} number(s) shaped {v.shape}: {box!r}")
    if not np.isfinite(v).all():
        raise ValueError(f"{where} holds NaN or infinite coordinates: {box!r}")
    x0, y0, x1, y1 = (float(c) for c in v)
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"a box is (x0, y0, x1, y1) with x0 < x1 and y0 < y1, got {(x0, y0, x1, y1)}")
    return x0, y0, x1, y1


def _is_box(b) -> bool:
    """True for four numbers (one box), False for a list of boxes."""
    if isinstance(b, (torch.Tensor, np.ndarray)):
        return b.ndim == 1
    return isinstance(b, (list, tuple)) and len(b) > 0 and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) or
        isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim == 0 for v in b)


def _box_list(boxes, where: str) -> list:
    """One image's boxes: a single box or a non-empty list of boxes -> a list of boxes."""
    if _is_box(boxes):
        return [boxes]
    if isinstance(boxes, (torch.Tensor, np.ndarray)) and boxes.ndim == 2:
        boxes = list(boxes)
    if not isinstance(boxes, (list, tuple)):
        raise TypeError(f"{where} must be a box (x0, y0, x1, y1) or a list of boxes, got {type(boxes).__name__} "
                        f"{boxes!r}")
    if len(boxes) == 0:
        raise ValueError(f"{where} has no box: an image without a box cannot be scored by a pointing game "
                         "(leave it out of the batch)")
    return list(boxes)


def box_mask(boxes: Union[Box, Sequence[Box]], size: tuple[int, int], tolerance: int = 0,
             device=None) -> torch.Tensor:
    """A boolean mask ``[H, W]``, True inside any of the boxes ``(x0, y0, x1, y1)`` (pixels of
    the model input, ``x1``/``y1`` exclusive; coordinates are truncated to whole pixels), each
    grown by ``tolerance`` pixels. A box that reaches past the image's edge is clipped to it; a
    box that does not overlap the image at all is an error (it would score a silent miss, or a
    negative index would wrap around into a hit)."""
    tolerance = check_count("tolerance", tolerance, minimum=0)
    h, w = size
    mask = torch.zeros((h, w), dtype=torch.bool, device=device)
    for i, b in enumerate(_box_list(boxes, "boxes")):
        x0, y0, x1, y1 = (int(c) for c in _box(b, f"box {i}"))
        if not (x0 < w and y0 < h and x1 > 0 and y1 > 0 and x0 < x1 and y0 < y1):
            raise ValueError(f"box {i} {tuple(_box(b))} covers no pixel of the {w} x {h} image (x from 0 to {w}, "
                             f"y from 0 to {h}, x1 and y1 exclusive); boxes are in pixels of the model input")
        mask[max(0, y0 - tolerance):min(h, y1 + tolerance), max(0, x0 - tolerance):min(w, x1 + tolerance)] = True
    return mask


def _maps_for(method, model, x, target, generator, options) -> torch.Tensor:
    x = check_input(x, model)
    return explain(method, model, x, target, generator=generator, **options)


def _masks(boxes, n: int, size, tolerance: int, device) -> list[torch.Tensor]:
    """``boxes``: for one image, a box or a list of boxes; for a batch, one entry (a box or a list
    of boxes) per image -- or a single box ``(x0, y0, x1, y1)``, used for every image."""
    if boxes is None or isinstance(boxes, (str, bytes, dict)) or not isinstance(
            boxes, (list, tuple, np.ndarray, torch.Tensor)):
        raise TypeError(f"boxes must be a box (x0, y0, x1, y1), a list of boxes, or one list of boxes per image, "
                        f"got {type(boxes).__name__} {boxes!r}")
    if len(boxes) == 0:
        raise ValueError("boxes is empty: give at least one box (x0, y0, x1, y1) per image")
    if _is_box(boxes):
        per_image = [boxes] * n                      # one box: the same box on every image
    elif n == 1 and all(_is_box(b) for b in boxes):
        per_image = [list(boxes)]                    # one image, a list of its boxes
    else:
        per_image = list(boxes)
        if len(per_image) != n:
            raise ValueError(f"got boxes for {len(per_image)} images but the batch holds {n}; pass one list of "
                             "boxes per image (or a single box for every image)")
    return [box_mask(_box_list(b, f"the boxes of image {i}"), size, tolerance, device)
            for i, b in enumerate(per_image)]


def pointing_game(method: MethodLike, model: nn.Module, x: torch.Tensor, boxes, target: _targets.Target = None,
                  *, tolerance: int = 0, generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): 1.0 if the map's maximum lies inside the object's
    box(es), grown by ``tolerance`` pixels (the paper uses 15), else 0.0; one value per image.
    When several pixels share the maximum, one of them inside the box is a hit (as Quantus).

    A *constant* map (all-zero, say, from a dead method or a zero gradient) scores a miss (0.0),
    unlike Quantus, where every pixel ties for the maximum and so the map "hits" any box: a map
    that points nowhere must not win the pointing game. (It is not an error, so a table over many
    methods and photos still gets a number for every cell.)"""
    tolerance = check_count("tolerance", tolerance, minimum=0)
    x = check_input(x, model)
    masks = _masks(boxes, len(x), tuple(x.shape[-2:]), tolerance, x.device)
    maps = _maps_for(method, model, x, target, generator, options)
    return torch.stack([(((m == m.max()) & mask).any() & (m.max() > m.min())).to(x.dtype)
                        for m, mask in zip(maps, masks)])


def energy_pointing_game(method: MethodLike, model: nn.Module, x: torch.Tensor, boxes,
                         target: _targets.Target = None, *, generator: Optional[torch.Generator] = None,
                         **options) -> torch.Tensor:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM Sec. 5.2): the share of the map's
    energy inside the box(es), ``sum_{ij in box} m_ij / sum_ij m_ij``, on the map with negative
    values set to 0. A uniform map scores the box's area fraction, an all-zero map 0. One value per image."""
    x = check_input(x, model)
    masks = _masks(boxes, len(x), tuple(x.shape[-2:]), 0, x.device)
    maps = _maps_for(method, model, x, target, generator, options).clamp(min=0)
    return torch.stack([(m * mask).sum() / m.sum().clamp(min=1e-12) for m, mask in zip(maps, masks)])


def half_share(heatmap, left: bool = True) -> float:
    """The share of a map's mass on one half of a side-by-side canvas (``vizlab.data.side_by_side``):

        sum_{i, j < W/2} m_ij / sum_ij m_ij        (the left half; ``left=False``: the right half)

    the energy-based pointing game with half the canvas as the box. ``heatmap`` is one non-negative
    map ``[H, W]`` or ``[1, H, W]``. 0.5 is no preference between the halves: with one photo on each
    half, a class-discriminative map puts more than half of its mass on the explained photo."""
    m = torch.as_tensor(heatmap)
    m = m[0] if m.ndim == 3 and m.shape[0] == 1 else m
    if m.ndim != 2:
        raise ValueError(f"half_share takes one map [H, W] or [1, H, W], got {tuple(m.shape)}; pick one "
                         "image's map with maps[i]")
    if bool((m < 0).any()):
        raise ValueError("half_share needs a non-negative map (a share of negative mass means nothing): "
                         "take its positive part with m.clamp(min=0), or its magnitude with m.abs()")
    half = m.shape[1] // 2
    return float((m[:, :half] if left else m[:, half:]).sum() / m.sum().clamp_min(1e-12))
