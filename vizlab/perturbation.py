"""Perturbation attributions: cover part of the image, see how much the score drops (occlusion).

Zeiler & Fergus ("Visualizing and Understanding Convolutional Networks", ECCV 2014, section 4.2)
slid a grey square over the image and plotted the class probability at each position: where
covering the image costs the most, the network needed what was there. No gradients, no hooks --
only forward passes, so it works on any model that returns logits. A window of ``h x w`` pixels
starts at every ``stride`` pixels (the last window of a row or column is cut at the image's edge,
so every pixel is covered), and each pixel gets the **mean** drop over the windows that cover it::

    O(x)_ij = mean over windows W containing (i, j) of  S(x) - S(x with W replaced by the baseline)

This is Captum's ``Occlusion`` with a window spanning all colour channels
(``sliding_window_shapes=(C, h, w)``, ``strides=(C, s, s)``); vizlab matches it to float rounding
(tests/test_perturbation.py), batching the occluded copies so that a call costs ``1 + windows``
forward passes per image, ``batch_size`` copies at a time.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Union

import torch
from torch import nn

from . import targets as _targets
from .attribution import _per_image, _repeat_target, baseline_for
from .hooks import check_count, check_input, eval_mode, progress_reporter, run_model, unwrap


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Where the windows start along one side: ``0, s, 2s, ...`` up to the first start at or past
    ``size - window`` (Captum's ``ceil((size - window) / stride) + 1`` positions)."""
    return [k * stride for k in range(math.ceil((size - window) / stride) + 1)]


def window_masks(height: int, width: int, window: tuple[int, int], stride: tuple[int, int],
                 device=None) -> torch.Tensor:
    """All occlusion windows as boolean masks ``[K, 1, H, W]`` (True = covered), row by row."""
    rows = window_starts(height, window[0], stride[0])
    cols = window_starts(width, window[1], stride[1])
    masks = torch.zeros(len(rows) * len(cols), 1, height, width, dtype=torch.bool, device=device)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        masks[k, :, r:r + window[0], c:c + window[1]] = True
    return masks


def _pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be one number of pixels or a pair (height, width), got {value!r}")
        return check_count(name, value[0]), check_count(name, value[1])
    n = check_count(name, value)
    return n, n


def occlusion(model: nn.Module, x: torch.Tensor, target: _targets.Target = None,
              window: Union[int, tuple[int, int]] = 32, stride: Union[int, tuple[int, int]] = 16,
              baseline: Union[str, float, torch.Tensor] = 0.0, *, batch_size: int = 32,
              progress: Union[bool, Callable[[int, int], None], None] = None) -> torch.Tensor:
    """Occlusion sensitivity map, shaped like ``x`` (the same value in every colour channel).

    ``window`` and ``stride`` are in pixels (one number, or ``(height, width)``). ``baseline`` is what
    covers the window, in the model's input space: ``0.0`` (the default, Captum's) is the mean colour
    of a normalised model -- Zeiler & Fergus' grey square; ``"black"``, ``"blur"``, a number or a
    tensor as for ``integrated_gradients``. ``target``: as every vizlab method (None = the predicted
    class of each image, frozen on the clean image). Positive = covering it lowers the score.
    ``progress(done, total)`` is called after every batch of occluded copies (``True``: a progress bar).

    A small window on a large stride leaves a blocky map; a window much larger than the object
    never isolates it. The cost is ``1 + K`` forward passes per image, ``K`` windows
    (``window_masks``): for 224 px, window 32 and stride 16, K = 14 x 14 = 196.
    """
    model = unwrap(model)
    x = check_input(x, model).detach()
    batch_size = check_count("batch_size", batch_size)
    report = progress_reporter(progress, "occlusion")
    window, stride = _pair("window", window), _pair("stride", stride)
    N, _, H, W = x.shape
    if window[0] > H or window[1] > W:
        raise ValueError(f"window {window} is larger than the image ({H} x {W}); pick a window of at most "
                         f"{min(H, W)} pixels")
    base = baseline_for(model, x, baseline)
    masks = window_masks(H, W, window, stride, device=x.device)
    K = len(masks)
    coverage = masks.sum(0, dtype=x.dtype)                       # [1, H, W]: windows over each pixel
    with eval_mode(model), torch.inference_mode():
        target = _per_image(target, model, x)
        clean = _targets.scores(target, run_model(model, x))
        total = torch.zeros(N, 1, H, W, dtype=x.dtype, device=x.device)
        done = 0
        for n in range(N):
            for start in range(0, K, batch_size):
                m = masks[start:start + batch_size]
                occluded = torch.where(m, base[n:n + 1], x[n:n + 1])
                score = _targets.scores(_repeat_target(target, [n] * len(m)), run_model(model, occluded))
                drop = (clean[n] - score).to(x.dtype)
                total[n] += (drop.view(-1, 1, 1, 1) * m).sum(0)
                done += len(m)
                if report is not None:
                    report(done, N * K)
    return (total / coverage).expand_as(x).clone()


__all__ = ["occlusion", "window_masks", "window_starts"]
