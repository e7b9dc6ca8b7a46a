"""Methods by name, the two baselines, and one map ``[N, H, W]`` per image from any of them.

Every metric of the package gets its maps through ``explain``: a method's name (``METHODS``, the
baselines ``BASELINES``), a function ``f(model, x, target, **options)`` returning a map ``[N, H, W]``
or an attribution ``[N, C, H, W]`` (reduced to ``max_c |a_c|``, Simonyan et al.'s map), or a
precomputed map.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from .. import methods as _registry, targets as _targets
from ..hooks import check_generator, check_input, eval_mode, run_model, unwrap

MethodLike = Union[str, Callable[..., torch.Tensor], torch.Tensor]


def random_map(model: nn.Module, x: torch.Tensor, target=None, *,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Baseline: uniform noise ``[N, H, W]`` -- a map that knows nothing. The noise comes from
    ``generator`` (default: a fresh one seeded with 0)."""
    n, _, h, w = check_input(x).shape
    return torch.rand((n, h, w), generator=check_generator(generator), dtype=x.dtype).to(x.device)


def centre_map(model: nn.Module, x: torch.Tensor, target=None, *, sigma: float = 0.25) -> torch.Tensor:
    """Baseline: a Gaussian bump at the image centre, ``exp(-r^2 / (2 (sigma * H)^2))`` -- a map
    that knows only that photographers centre their subject (a class-blind prior)."""
    n, _, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype, device=x.device) - (h - 1) / 2
    xs = torch.arange(w, dtype=x.dtype, device=x.device) - (w - 1) / 2
    r2 = ys[:, None] ** 2 + xs[None, :] ** 2
    return torch.exp(-r2 / (2 * (sigma * h) ** 2)).expand(n, h, w).clone()


# The order of chapter 12's leaderboard; the set is every attribution and map method of vizlab.methods (the one
# list of methods, which gives the functions), and tests/test_methods.py checks that the two agree.
METHODS = ("saliency", "grad_x_input", "guided_backprop", "deconvnet", "smoothgrad", "integrated_gradients",
           "cam", "grad_cam", "grad_cam_pp", "smooth_grad_cam_pp", "score_cam", "layer_cam", "guided_grad_cam",
           "occlusion")
BASELINES = ("random", "centre")
_BASELINES = {"random": random_map, "centre": centre_map}


def get_method(method: Union[str, Callable]) -> Callable[..., torch.Tensor]:
    """The function behind a method name (``METHODS`` or ``BASELINES``); a function is returned as is."""
    if callable(method):
        return method
    if not isinstance(method, str):
        raise TypeError(f"a method is a name such as 'grad_cam' (see vizlab.evaluate.METHODS), a function "
                        f"f(model, x, target) or a map tensor, got {type(method).__name__}")
    if method in _BASELINES:
        return _BASELINES[method]
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS + BASELINES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown method {method!r}.{hint} Available: {', '.join(METHODS + BASELINES)}")
    return _registry.get(method).function()


def to_map(a: torch.Tensor) -> torch.Tensor:
    """An attribution ``[N, C, H, W]`` -> a map ``[N, H, W]``: ``max_c |a_c|`` (Simonyan et al.'s
    saliency map); a map ``[N, H, W]`` is returned as is."""
    a = a.detach()
    if a.ndim == 4:
        return a.abs().amax(dim=1)
    if a.ndim == 3:
        return a
    raise ValueError(f"expected a map [N, H, W] or an attribution [N, C, H, W], got {tuple(a.shape)}")


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def _as_map(method, x: torch.Tensor) -> torch.Tensor:
    """A precomputed map (tensor, numpy array or nested list) as a float tensor on ``x``'s device."""
    try:
        out = torch.as_tensor(np.asarray(method) if not isinstance(method, torch.Tensor) else method.detach())
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"a precomputed map must be a tensor or array of numbers [N, H, W], got "
                        f"{type(method).__name__}") from None
    if out.dtype == torch.bool or not (out.is_floating_point() or out.dtype in
                                       (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)):
        raise TypeError(f"a precomputed map must hold numbers, got {out.dtype}")
    return out.to(device=x.device, dtype=out.dtype if out.is_floating_point() else x.dtype)


def explain(method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target = None,
            generator: Optional[torch.Generator] = None, raw: bool = False, **options) -> torch.Tensor:
    """One map ``[N, H, W]`` per image from any method: a name, a function or a precomputed map
    (a tensor, numpy array or list).

    ``generator`` is passed on to methods that draw noise (SmoothGrad, Smooth Grad-CAM++, the
    random map); ``None`` means a fresh generator seeded with 0. ``raw=True`` returns the
    method's output unreduced (attributions stay ``[N, C, H, W]``), as the sanity check needs for
    signed comparisons. A map holding NaN or infinite values is refused, naming the method.
    """
    model = unwrap(model) if model is not None else None
    x = check_input(x, model)
    if isinstance(method, (torch.Tensor, np.ndarray, list, tuple)):
        out = _as_map(method, x)
    else:
        fn = get_method(method)
        if model is None and not (isinstance(method, str) and method in BASELINES):
            raise TypeError(f"method {method_label(method)!r} needs the model (got None); pass the network "
                            "whose decision it explains, e.g. vizlab.load()")
        if _accepts(fn, "generator"):
            options = {**options, "generator": check_generator(generator)}
        out = fn(model, x, target, **options)
    if not isinstance(out, torch.Tensor) or out.ndim not in (3, 4) or out.shape[0] != x.shape[0] \
            or tuple(out.shape[-2:]) != tuple(x.shape[-2:]):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"a method must return a map [N, H, W] or an attribution [N, C, H, W] at the input's "
                         f"resolution {tuple(x.shape[-2:])}, got {got}; for a CAM method keep upsample=True")
    out = out.detach()
    if out.device.type != "meta" and not torch.isfinite(out).all():
        raise ValueError(f"the map of {method_label(method)!r} holds NaN or infinite values, so no metric can "
                         "rank its pixels; check the method and its options (a map from a model with "
                         "non-finite weights or an input out of range)")
    return out if raw else to_map(out)


def method_label(method: MethodLike) -> str:
    """A short name for ``method``: the name itself, ``"map"`` for a precomputed one, or the function's name."""
    if isinstance(method, str):
        return method
    if isinstance(method, (torch.Tensor, np.ndarray, list, tuple)):
        return "map"
    return getattr(method, "__name__", type(method).__name__)


def _need_model(model, what: str) -> None:
    if not isinstance(model, nn.Module):
        hint = "; load it first: vizlab.load(name)" if isinstance(model, str) else ""
        raise TypeError(f"{what} runs the model: pass it (an nn.Module, e.g. vizlab.load()), got "
                        f"{type(model).__name__}{hint}")


def _one_target(model: nn.Module, x: torch.Tensor, target: _targets.Target) -> list[int]:
    """One class index per image, frozen at the clean input (``vizlab.targets.freeze``: names resolved, ``None``
    the predicted class, checked against the model's outputs). A metric needs a class: a callable is refused."""
    if callable(target):
        raise TypeError("a callable target has no class index; pass an int or a list of ints")
    with torch.no_grad(), eval_mode(model):
        logits = run_model(model, x)
    return _targets.freeze(target, model, x.shape[0], logits).tolist()
