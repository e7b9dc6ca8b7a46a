"""Faithfulness (Petsiuk, Das & Saenko, "RISE", BMVC 2018): does removing what the map points at
change the model's score?

``deletion`` removes pixels in the order of the map (most important first) and records the class
probability ``p_k`` after each step; ``insertion`` adds them, in the same order, onto a blurred copy.
The area under each curve, ``auc(p) = 1/K * sum_k (p_k + p_{k+1}) / 2`` (trapezoids over ``K`` steps
on [0, 1]), is low for a good map under deletion and high under insertion.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import targets as _targets
from ..data import normalize
from ..hooks import check_count, check_input, eval_mode, run_model, unwrap
from ..lookup import info
from .maps import MethodLike, _need_model, _one_target, explain


def blur(x: torch.Tensor, sigma: float = 5.0, radius: Optional[int] = None) -> torch.Tensor:
    """Gaussian blur of each channel (separable, replicate padding): the insertion game's start.
    Petsiuk et al. use a Gaussian of ``sigma = 5`` px (kernel 11); ``radius`` defaults to ``3 sigma``."""
    radius = int(math.ceil(3 * sigma)) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    padded = F.pad(x.detach(), (radius,) * 4, mode="replicate")
    rows = F.conv2d(padded, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(rows, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _black(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pixel value 0 in model input space, ``-mean / std`` (``vizlab.data.normalize``), for ``x``'s own number of
    channels (a model whose ModelInfo gives one value, or the same value for every channel, fits any count)."""
    try:
        return normalize(torch.zeros_like(x), model)
    except ValueError:
        raise ValueError(f"the model's ModelInfo gives a normalisation for {len(info(model).mean)} channels but the "
                         f"input has {x.shape[1]}; pass substrate= a number or a tensor in model input space instead "
                         "of 'black'") from None


def substrate(model: nn.Module, x: torch.Tensor, kind: Union[str, float, torch.Tensor] = "black") -> torch.Tensor:
    """What removed pixels become, in model input space: ``"black"`` (pixel value 0, i.e.
    ``-mean/std``), ``"blur"`` (``blur(x)``), ``"mean"`` (each image's channel mean), a number or a
    tensor broadcastable to ``x``."""
    x = check_input(x)
    if isinstance(kind, (torch.Tensor, np.ndarray)):
        t = torch.as_tensor(kind).detach()
        if t.dtype == torch.bool or t.is_complex() or t.numel() == 0:
            raise ValueError(f"a substrate tensor must hold real numbers in model input space, got {t.dtype} "
                             f"{tuple(t.shape)}")
        try:
            shape = torch.broadcast_shapes(t.shape, x.shape)
        except RuntimeError:
            shape = None
        if shape != x.shape:
            raise ValueError(f"a substrate tensor must broadcast to the input's shape {tuple(x.shape)}, got "
                             f"{tuple(t.shape)}; e.g. one value per channel [1, {x.shape[1]}, 1, 1]")
        if not torch.isfinite(t).all():
            raise ValueError("the substrate tensor holds NaN or infinite values; removed pixels need finite values")
        return t.to(x).expand_as(x).clone()
    if isinstance(kind, (int, float, np.integer, np.floating)) and not isinstance(kind, (bool, np.bool_)):
        if not math.isfinite(kind):
            raise ValueError(f"substrate must be a finite number in model input space, got {kind}")
        return torch.full_like(x, float(kind))
    if kind == "blur":
        return blur(x)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "black":
        return _black(model, x)
    raise ValueError(f"substrate must be 'black', 'blur', 'mean', a number or a tensor, not {kind!r}")


def order(saliency_map: torch.Tensor) -> torch.Tensor:
    """Pixel indices (flattened ``i * W + j``) from the most to the least important; ties keep
    their reading order (a stable sort), so a constant map deletes row by row."""
    return torch.argsort(saliency_map.reshape(-1), descending=True, stable=True)


def _probabilities(model: nn.Module, images: torch.Tensor, target: int, softmax: bool) -> torch.Tensor:
    logits = run_model(model, images)
    return (logits.softmax(-1) if softmax else logits)[:, target]


def _step_pixels(step, n_pix: int) -> int:
    """``step`` as a number of pixels: an int >= 1, or a fraction in (0, 1) of the ``n_pix`` pixels."""
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, float, np.integer, np.floating)):
        raise TypeError(f"step must be a number of pixels >= 1 or a fraction in (0, 1), got {type(step).__name__} "
                        f"{step!r}")
    if not math.isfinite(step) or step <= 0:
        raise ValueError(f"step must be a number of pixels >= 1 or a fraction in (0, 1), got {step}; "
                         "e.g. step=0.05 changes 5% of the pixels per step")
    if isinstance(step, (float, np.floating)) and step < 1:
        return max(1, int(round(step * n_pix)))
    if step != int(step):
        raise ValueError(f"step of 1 or more is a whole number of pixels, got {step}; "
                         "for a fraction of the image pass a value in (0, 1)")
    return int(step)


def perturbation_curve(model: nn.Module, x: torch.Tensor, saliency_map: torch.Tensor, start: torch.Tensor,
                       end: torch.Tensor, target: int, step: Union[int, float] = 0.01, batch_size: int = 4,
                       softmax: bool = True) -> torch.Tensor:
    """The shared core of deletion and insertion for one image ``x [1, C, H, W]``.

    Pixels are visited in ``order(saliency_map)``; after ``k`` steps the first ``k * s`` of them
    show ``end`` and the rest ``start`` (``s = step`` pixels, or ``step * H * W`` if ``step`` is a
    fraction < 1). Returns the class probability at ``k = 0 .. K``, ``K = ceil(H W / s)`` -- the
    ``K + 1`` images run through the model ``batch_size`` at a time, without autograd. (On one CPU
    thread at 224 px, Lite0 takes ~90 ms per image at batch 1-4 but ~130 ms at batch 16: hence 4;
    with more threads or a GPU, larger batches pay.)
    """
    model = unwrap(model)
    x = check_input(x, model)
    _, _, h, w = x.shape
    n_pix = h * w
    if x.shape[0] != 1:
        raise ValueError(f"perturbation_curve takes one image [1, C, H, W], got {tuple(x.shape)}; "
                         "deletion and insertion loop over a batch for you")
    if saliency_map.numel() != n_pix or tuple(start.shape) != tuple(x.shape) or tuple(end.shape) != tuple(x.shape):
        raise ValueError(f"the map must be [H, W] = {(h, w)} and start and end shaped like x {tuple(x.shape)}; got "
                         f"{tuple(saliency_map.shape)}, {tuple(start.shape)}, {tuple(end.shape)}")
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be an int class index, got {type(target).__name__} {target!r}")
    s = _step_pixels(step, n_pix)
    batch_size = check_count("batch_size", batch_size)
    k_max = math.ceil(n_pix / s)
    rank = torch.empty(n_pix, dtype=torch.long, device=x.device)
    rank[order(saliency_map)] = torch.arange(n_pix, device=x.device)   # rank[p]: when pixel p changes
    start, end = start.reshape(1, -1, n_pix), end.reshape(1, -1, n_pix)
    out = []
    with torch.no_grad(), eval_mode(model):
        for k0 in range(0, k_max + 1, batch_size):
            ks = torch.arange(k0, min(k0 + batch_size, k_max + 1), device=x.device)
            changed = (rank[None, :] < ks[:, None] * s)[:, None, :]           # [B, 1, HW]
            images = torch.where(changed, end, start).reshape(len(ks), -1, h, w)
            out.append(_probabilities(model, images, int(target), softmax))
    return torch.cat(out)


def _curves(kind: str, method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target,
            step, batch_size: int, substrate_kind, softmax: bool, generator, options) -> torch.Tensor:
    _need_model(model, kind)
    model = unwrap(model)
    x = check_input(x, model)
    _step_pixels(step, x.shape[2] * x.shape[3])          # bad options fail before any model runs
    check_count("batch_size", batch_size)
    if not isinstance(softmax, (bool, np.bool_)):
        raise TypeError(f"softmax must be True or False, got {softmax!r}")
    base = substrate(model, x, substrate_kind)
    classes = _one_target(model, x, target)
    maps = explain(method, model, x, classes, generator=generator, **options)
    curves = []
    for i, c in enumerate(classes):
        ends = (base[i:i + 1], x[i:i + 1]) if kind == "insertion" else (x[i:i + 1], base[i:i + 1])
        curves.append(perturbation_curve(model, x[i:i + 1], maps[i], *ends, c, step, batch_size, softmax))
    return torch.stack(curves)


def deletion(method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target = None, *,
             step: Union[int, float] = 0.01, batch_size: int = 4, substrate: Union[str, float, torch.Tensor] = "black",
             softmax: bool = True, generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """Deletion curves ``[N, K + 1]`` (Petsiuk et al. 2018): replace the most important pixels
    first by the ``substrate`` (default black) and record the class probability. A faithful map
    makes it fall fast: low ``auc``. ``target`` (a class index or name) defaults to the predicted
    class; ``generator`` feeds a noisy method (default: a generator seeded with 0)."""
    return _curves("deletion", method, model, x, target, step, batch_size, substrate, softmax, generator, options)


def insertion(method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target = None, *,
              step: Union[int, float] = 0.01, batch_size: int = 4, substrate: Union[str, float, torch.Tensor] = "blur",
              softmax: bool = True, generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """Insertion curves ``[N, K + 1]`` (Petsiuk et al. 2018): start from the ``substrate``
    (default a blurred copy) and put back the most important pixels first. A faithful map makes
    the class probability rise fast: high ``auc``. ``target`` and ``generator`` as for ``deletion``."""
    return _curves("insertion", method, model, x, target, step, batch_size, substrate, softmax, generator, options)


def curve_fractions(points: int, step: Union[int, float], n_pix: int) -> np.ndarray:
    """The x axis of a deletion/insertion curve: the fraction of the ``n_pix`` pixels changed at each
    of its ``points`` (``k * s / n_pix``, capped at 1 -- the last step may change fewer than ``s``)."""
    s = _step_pixels(step, n_pix)
    return np.minimum(np.arange(points) * s / n_pix, 1.0)


def auc(curve: torch.Tensor) -> torch.Tensor:
    """Area under curve(s) ``[..., K + 1]`` on an x axis from 0 to 1 (trapezoid rule):
    ``(sum_k p_k - p_0 / 2 - p_K / 2) / K``, as in the RISE code."""
    try:
        curve = torch.as_tensor(curve if isinstance(curve, torch.Tensor) else np.asarray(curve, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"a curve is a tensor or array of numbers [..., K + 1], got {type(curve).__name__}") from None
    k = curve.shape[-1] - 1 if curve.ndim else 0
    if k < 1:
        raise ValueError("a curve needs at least two points")
    if not torch.isfinite(curve).all():
        raise ValueError("the curve holds NaN or infinite values; its area is undefined (was the map or the "
                         "model output non-finite?)")
    return (curve.sum(-1) - curve[..., 0] / 2 - curve[..., -1] / 2) / k
