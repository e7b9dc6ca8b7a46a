"""Evaluating explanations: which of a dozen pictures of the same decision should you trust?

Three families of tests, each a few lines of PyTorch:

* **Sanity checks** (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
  re-initialise the model's weights from the top, layer by layer (*cascading*), or one layer
  at a time (*independent*), and compare each map with the trained model's map. A method whose
  map hardly changes is not explaining what the model learned. ``randomize`` and ``sanity_check``.
* **Faithfulness** (Petsiuk, Das & Saenko, "RISE", BMVC 2018): ``deletion`` removes pixels in
  the order of the map (most important first) and records the class probability ``p_k`` after
  each step; ``insertion`` adds them, in the same order, onto a blurred copy. The area under each
  curve, ``auc(p) = 1/K * sum_k (p_k + p_{k+1}) / 2`` (trapezoids over ``K`` steps on [0, 1]), is
  low for a good map under deletion and high under insertion.
* **Localisation**: the pointing game (Zhang et al., "Top-down Neural Attention by Excitation
  Backprop", ECCV 2016) -- is the map's maximum inside the object's box? -- and the
  energy-based pointing game (Wang et al., "Score-CAM", CVPR workshops 2020) -- which fraction
  ``sum_{ij in box} m_ij / sum_ij m_ij`` of the map lies inside the box?

One call shape: every metric takes a method by name (``"grad_cam"``, ``"saliency"``, ... see
``METHODS``; the baselines ``"random"`` and ``"centre"``), or any function ``f(model, x,
target, **options)`` returning a map ``[N, H, W]`` or an attribution ``[N, C, H, W]``, or a
precomputed map tensor. ``explain`` turns any of them into one map ``[N, H, W]`` per image.

Every function leaves the model as it found it (``randomize`` works on a copy); randomness
comes only from a ``torch.Generator`` passed in -- ``generator=None`` means a fresh generator
seeded with 0, so a call without one is repeatable and never draws from (or advances) the
global torch random state.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import math
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import attribution as at, cam, targets as _targets
from .data import preprocess, sample_image
from .hooks import check_count, check_generator, check_input, eval_mode, layer_list, model_lock, run_model
from .lookup import find_layer, info

MethodLike = Union[str, Callable[..., torch.Tensor], torch.Tensor]
Box = Sequence[float]   # (x0, y0, x1, y1) in pixels of the model input; x1, y1 exclusive


# --------------------------------------------------------------------------------------------
# Methods by name, and the two baselines that say what "good" means
# --------------------------------------------------------------------------------------------



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


def _smoothgrad_saliency(model, x, target=None, *, generator: Optional[torch.Generator] = None, **options):
    """SmoothGrad of the vanilla gradient (``vizlab.smoothgrad(vizlab.saliency, ...)``)."""
    return at.smoothgrad(at.saliency, model, x, target, generator=generator, **options)


def _method_table() -> dict:
    return {
        "saliency": at.saliency, "grad_x_input": at.grad_x_input, "guided_backprop": at.guided_backprop,
        "deconvnet": at.deconvnet, "smoothgrad": _smoothgrad_saliency,
        "integrated_gradients": at.integrated_gradients,
        "cam": cam.cam, "grad_cam": cam.grad_cam, "grad_cam_pp": cam.grad_cam_pp,
        "smooth_grad_cam_pp": cam.smooth_grad_cam_pp, "score_cam": cam.score_cam, "layer_cam": cam.layer_cam,
        "guided_grad_cam": cam.guided_grad_cam,
        "random": random_map, "centre": centre_map,
    }


METHODS = ("saliency", "grad_x_input", "guided_backprop", "deconvnet", "smoothgrad", "integrated_gradients",
           "cam", "grad_cam", "grad_cam_pp", "smooth_grad_cam_pp", "score_cam", "layer_cam", "guided_grad_cam")
BASELINES = ("random", "centre")


def get_method(method: Union[str, Callable]) -> Callable[..., torch.Tensor]:
    """The function behind a method name (``METHODS`` or ``BASELINES``); a function is returned as is."""
    if callable(method):
        return method
    if not isinstance(method, str):
        raise TypeError(f"a method is a name such as 'grad_cam' (see vizlab.evaluate.METHODS), a function "
                        f"f(model, x, target) or a map tensor, got {type(method).__name__}")
    table = _method_table()
    if method not in table:
        import difflib
        close = difflib.get_close_matches(str(method), table, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown method {method!r}.{hint} Available: {', '.join(table)}")
    return table[method]


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


# --------------------------------------------------------------------------------------------
# Sanity checks: model randomisation (Adebayo et al. 2018)
# --------------------------------------------------------------------------------------------

def randomizable_layers(model: nn.Module) -> list[str]:
    """Layer names from the output to the input for ``randomize``: the model's top-level
    children that hold parameters, with plain ``nn.Sequential`` containers opened one level (on Lite0:
    ``classifier, head, blocks.15, ..., blocks.0, stem``)."""
    names = []
    for name, child in model.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if type(child) in (nn.Sequential, nn.ModuleList) and len(child) > 1:   # a plain container of blocks
            names += [f"{name}.{sub}" for sub, m in child.named_children() if any(True for _ in m.parameters())]
        else:
            names.append(name)
    return names[::-1]


def _layer_seeds(n: int, generator: Union[None, int, torch.Generator]) -> list[int]:
    """One seed per layer. An int seeds *every* layer with that same value (Quantus' convention:
    ``torch.manual_seed(seed)`` before each reset); a Generator draws one seed per layer."""
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return [int(generator)] * n
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, an int seed used for every layer, or None "
                        f"(a generator seeded with 0), got {type(generator).__name__} {generator!r}")
    return [int(s) for s in torch.randint(0, 2 ** 62, (n,), generator=check_generator(generator))]


def reset_layer(module: nn.Module, seed: int) -> None:
    """Re-initialise every parameterised sub-module of ``module`` with PyTorch's default
    initialisation (``reset_parameters``: Kaiming-uniform convolution and linear weights, batch
    norm to the identity with fresh running statistics), drawing from ``torch.manual_seed(seed)``
    inside ``torch.random.fork_rng`` so that the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        for m in module.modules():
            if hasattr(m, "reset_parameters") and (any(True for _ in m.parameters(recurse=False))
                                                    or any(True for _ in m.buffers(recurse=False))):
                torch.manual_seed(seed)
                m.reset_parameters()


def _steps(model: nn.Module, layers) -> list[tuple[str, list[str]]]:
    """A step is a layer name or a group of names (randomised together; labelled by the last).
    A single name is one step, as ``hooks.layer_list`` reads it. Every name must exist and hold
    parameters: re-initialising a ReLU or a pooling layer changes nothing."""
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers is a layer name such as 'classifier', or a list of names (or of groups of "
                        f"names), got {type(layers).__name__}; randomizable_layers(model) lists them")
    if not layers:
        raise ValueError("no layer to randomise; pass names such as ['classifier', 'head'] "
                         "(randomizable_layers(model) lists them from the top)")
    out = []
    for step in layers:
        names = [step] if isinstance(step, str) else layer_list(step) if isinstance(step, (list, tuple)) else None
        if names is None or not all(isinstance(n, str) for n in names):
            raise TypeError(f"a step of layers is a name or a list of names, got {step!r}")
        for name in names:
            if not any(True for _ in find_layer(model, name).parameters()):   # unknown names fail here too
                raise ValueError(f"layer {name!r} has no parameters, so randomising it changes nothing; "
                                 f"pick layers with weights: {', '.join(randomizable_layers(model))}")
        out.append((names[-1] if isinstance(step, str) else f"{names[0]}..{names[-1]}", names))
    return out


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` made under its lock (so it carries no other call's temporary hooks)
    and outside inference mode (so its weights can take part in autograd)."""
    with model_lock(model), torch.inference_mode(False):
        return copy.deepcopy(model)


def randomize(model: nn.Module, layers: Optional[Sequence[Union[str, Sequence[str]]]] = None,
              mode: str = "cascading", generator: Union[None, int, torch.Generator] = None
              ) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer, randomised copy of model)`` for each step of Adebayo et al.'s model
    randomisation; the original ``model`` is never changed (it is deep-copied, under its lock).

    * ``mode="cascading"``: step ``k`` has layers ``0..k`` re-initialised (list them from the
      output down: ``randomizable_layers(model)`` is the default);
    * ``mode="independent"``: step ``k`` has only layer ``k`` re-initialised.

    Each layer ``k`` is re-initialised with seed ``s_k`` (``reset_layer``), so its random weights
    are the same in both modes and for the same ``generator`` (a ``torch.Generator``, or an int
    used as every layer's seed, as Quantus does; ``None``: a generator seeded with 0). ``layers``
    is one name or a list; an entry of the list may be a list of names randomised together. Every
    layer must hold parameters. The copy yielded in cascading mode is re-used (and changed) by the
    next step: use it before asking for the next one.
    """
    _need_model(model, "randomize")
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', not {mode!r}")
    steps = _steps(model, randomizable_layers(model) if layers is None else layers)
    seeds = _layer_seeds(len(steps), generator)
    work = _copy(model)
    for (label, names), seed in zip(steps, seeds):
        if mode == "independent":
            work = _copy(model)
        with torch.inference_mode(False):
            for name in names:
                reset_layer(find_layer(work, name), seed)
        yield label, work


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps (Pearson correlation of their ranks; ties get
    the average rank), as ``scipy.stats.spearmanr``."""
    from scipy.stats import rankdata
    ra = rankdata(np.asarray(a, dtype=np.float64).ravel())
    rb = rankdata(np.asarray(b, dtype=np.float64).ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    if den > 0:
        return float((ra * rb).sum() / den)
    # A constant map has no ranking: two constant maps rank the pixels alike (1.0, e.g. a dead
    # method's maps before and after randomisation); a constant and a varying map do not (0.0).
    return 1.0 if np.array_equal(ra, rb) else 0.0


def _unit(m: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum (all-zero stays zero)."""
    top = float(m.max())
    return m / top if top > 0 else m


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Structural similarity (``skimage.metrics.structural_similarity``) of two maps, each
    scaled to [0, 1] by its maximum, as Adebayo et al. compare normalised maps."""
    from skimage.metrics import structural_similarity
    a, b = _unit(np.asarray(a, dtype=np.float64)), _unit(np.asarray(b, dtype=np.float64))
    return float(structural_similarity(a, b, data_range=1.0))


def hog_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the histograms of oriented gradients (``skimage.feature.hog``) of two
    maps scaled to [0, 1] -- Adebayo et al.'s third similarity (cells of ``min(H, W) // 14`` px)."""
    from skimage.feature import hog
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cell = max(2, min(a.shape) // 14)                 # 16 px cells on a 224 px map
    ha = hog(_unit(a), pixels_per_cell=(cell, cell), cells_per_block=(2, 2))
    hb = hog(_unit(b), pixels_per_cell=(cell, cell), cells_per_block=(2, 2))
    if ha.std() == 0 or hb.std() == 0:     # a flat map has no gradients: alike only if both are flat
        return 1.0 if np.array_equal(ha, hb) else 0.0
    return float(np.corrcoef(ha, hb)[0, 1])


SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog")


def _similarity_input(a, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a map [H, W] or an attribution [C, H, W] (tensor or array), "
                        f"got {type(a).__name__}") from None
    if t.ndim not in (2, 3) or t.numel() == 0 or t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must be a map [H, W] or an attribution [C, H, W] of numbers, "
                         f"got {tuple(t.shape)} {t.dtype}; pick one image of a batch: maps[i]")
    t = t.detach().double().cpu()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds NaN or infinite values; similarities need finite maps")
    return t


def similarity(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Adebayo et al.'s four similarities of two outputs of one method (maps ``[H, W]`` or
    attributions ``[C, H, W]``, of the same size): Spearman rank correlation of ``|a|`` (the map)
    and of the signed channel sum, SSIM and HOG similarity of the absolute maps. Two identical
    maps score 1 on all four, constant ones included."""
    a, b = _similarity_input(a, "a"), _similarity_input(b, "b")
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"the maps have different sizes, {tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}; "
                         "compare maps of the same image size (resize one with torch.nn.functional.interpolate)")
    signed_a = a.sum(0) if a.ndim == 3 else a
    signed_b = b.sum(0) if b.ndim == 3 else b
    abs_a = a.abs().amax(0) if a.ndim == 3 else a.abs()
    abs_b = b.abs().amax(0) if b.ndim == 3 else b.abs()
    na, nb = abs_a.numpy(), abs_b.numpy()
    return {"spearman_abs": spearman(na, nb), "spearman": spearman(signed_a.numpy(), signed_b.numpy()),
            "ssim": ssim(na, nb), "hog": hog_similarity(na, nb)}


def sanity_check(method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target = None,
                 layers: Optional[Sequence[Union[str, Sequence[str]]]] = None, mode: str = "cascading",
                 generator: Union[None, int, torch.Generator] = None,
                 method_generator_seed: int = 0, **options) -> list[dict]:
    """Model-parameter randomisation test (Adebayo et al. 2018) for one method on a batch ``x``.

    The target is fixed to the trained model's prediction (or ``target``), so every map explains
    the same class. Returns one row per step, the first being ``"original"`` (the trained model
    against itself, all similarities 1 for a deterministic method)::

        {"layer": name, "image": n, "spearman_abs": ..., "spearman": ..., "ssim": ..., "hog": ...}

    A method that explains the model gives maps that de-correlate as more of it is randomised.
    A noisy method (SmoothGrad) is run with a fresh ``torch.Generator`` seeded with
    ``method_generator_seed`` for every model, so that only the weights differ. ``target`` may be
    a class name. Works inside ``torch.no_grad()`` and ``torch.inference_mode()``.
    """
    if isinstance(method, (torch.Tensor, np.ndarray, list, tuple)):
        raise TypeError("a sanity check must recompute the map on each randomised model: pass a method "
                        "name or function, not a precomputed map")
    get_method(method)                                   # an unknown name fails before any work
    _need_model(model, "the sanity check")
    method_generator_seed = _seed("method_generator_seed", method_generator_seed)
    x = check_input(x, model)
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', not {mode!r}")
    _steps(model, randomizable_layers(model) if layers is None else layers)   # bad layers fail before any work
    if not (generator is None or isinstance(generator, torch.Generator) or
            isinstance(generator, (int, np.integer)) and not isinstance(generator, bool)):
        _layer_seeds(1, generator)                       # raises the TypeError that explains the choices
    with torch.inference_mode(False):
        target = _targets.resolve(target, model)
        if not callable(target):
            target = _one_target(model, x, target)
        steps = randomize(model, layers, mode, generator)

        def run(m):
            g = torch.Generator().manual_seed(method_generator_seed)
            return explain(method, m, x, target, generator=g, raw=True, **options)

        original = run(model)
        rows = [{"layer": "original", "image": i, **similarity(original[i], original[i])} for i in range(len(x))]
        for label, randomized in steps:
            maps = run(randomized)
            rows += [{"layer": label, "image": i, **similarity(original[i], maps[i])} for i in range(len(x))]
    return rows


def _seed(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int seed such as 0, got {type(value).__name__} {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Faithfulness: deletion and insertion (Petsiuk et al. 2018)
# --------------------------------------------------------------------------------------------

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
    """Pixel value 0 in model input space, ``-mean / std``, for ``x``'s own number of channels (a
    model whose ModelInfo gives one value, or the same value for every channel, fits any count)."""
    meta, c = info(model), x.shape[1]
    mean, std = torch.tensor(meta.mean, dtype=x.dtype).reshape(-1), torch.tensor(meta.std, dtype=x.dtype).reshape(-1)
    for name, v in (("mean", mean), ("std", std)):
        if len(v) != c and not (v == v[0]).all():
            raise ValueError(f"the model's ModelInfo gives a {name} for {len(v)} channels but the input has {c}; "
                             "pass substrate= a number or a tensor in model input space instead of 'black'")
    mean, std = (v if len(v) == c else v[:1].expand(c) for v in (mean, std))
    return ((0 - mean) / std).to(x.device).view(1, c, 1, 1).expand_as(x).clone()


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


def _need_model(model, what: str) -> None:
    if not isinstance(model, nn.Module):
        hint = "; load it first: vizlab.load(name)" if isinstance(model, str) else ""
        raise TypeError(f"{what} runs the model: pass it (an nn.Module, e.g. vizlab.load()), got "
                        f"{type(model).__name__}{hint}")


def _one_target(model: nn.Module, x: torch.Tensor, target: _targets.Target) -> list[int]:
    """One class index per image: ``target`` (class names resolved) or the predicted class."""
    target = _targets.resolve(target, model)
    with torch.no_grad(), eval_mode(model):
        logits = run_model(model, x)
    return _targets.class_indices(target, logits).tolist()


def _curves(kind: str, method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target,
            step, batch_size: int, substrate_kind, softmax: bool, generator, options) -> torch.Tensor:
    _need_model(model, kind)
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


# --------------------------------------------------------------------------------------------
# Localisation: pointing games
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The annotated photos and two-object canvases (vizlab/assets/annotations.json)
# --------------------------------------------------------------------------------------------

def annotations_path() -> "Path":
    """``vizlab/assets/annotations.json``, shipped inside the package (boxes drawn by hand, see
    data/README.md in the repository), so that a normal ``pip install`` finds it too."""
    from pathlib import Path
    return Path(__file__).resolve().parent / "assets" / "annotations.json"


def _shrink(x: torch.Tensor, half: int) -> torch.Tensor:
    return F.interpolate(x, size=(half, half), mode="area")


def annotated_inputs(model: nn.Module, path=None, canvases: bool = True) -> list[dict]:
    """The annotated photos (and two-object canvases) as model inputs: a list of
    ``{"name", "x" [1, 3, S, S], "target" (class index), "label", "boxes" [[x0, y0, x1, y1], ...]}``.

    A canvas shows two photos at half size side by side on grey; it appears twice, once per
    object, with that object's class as the target and its (halved, moved) boxes."""
    import json
    from pathlib import Path
    spec = json.loads(Path(annotations_path() if path is None else path).read_text(encoding="utf-8"))
    size, photos = spec["size"], spec["photos"]
    made_for = info(model).input_size
    if made_for != size:
        raise ValueError(f"the annotated boxes are in pixels of {size} x {size} ImageNet inputs, but "
                         f"{info(model).name} takes {made_for} px images; use an ImageNet model "
                         "(vizlab.load()), or build your own items {'name', 'x', 'target', 'label', 'boxes'}")
    xs = {name: preprocess(sample_image(name), model) for name in photos}
    items = [{"name": n, "x": xs[n], "target": a["class"], "label": a["label"], "boxes": a["boxes"]}
             for n, a in photos.items()]
    if not canvases:
        return items
    meta = info(model)
    grey = ((0.5 - torch.tensor(meta.mean)) / torch.tensor(meta.std)).view(1, -1, 1, 1)
    half, top = size // 2, size // 4
    for cname, c in spec.get("canvases", {}).items():
        canvas = grey.expand(1, xs[c["left"]].shape[1], size, size).clone()
        for side, dx in (("left", 0), ("right", half)):
            canvas[:, :, top:top + half, dx:dx + half] = _shrink(xs[c[side]], half)
        for side, dx in (("left", 0), ("right", half)):
            a = photos[c[side]]
            boxes = [[dx + b[0] // 2, top + b[1] // 2, dx + (b[2] + 1) // 2, top + (b[3] + 1) // 2] for b in a["boxes"]]
            items.append({"name": f"{cname}:{a['label']}", "x": canvas, "target": a["class"], "label": a["label"],
                          "boxes": boxes})
    return items


__all__ = ["METHODS", "BASELINES", "get_method", "explain", "to_map", "random_map", "centre_map",
           "randomizable_layers", "randomize", "reset_layer", "sanity_check", "similarity", "spearman", "ssim",
           "hog_similarity", "SIMILARITIES", "blur", "substrate", "order", "perturbation_curve", "deletion",
           "insertion", "auc", "box_mask", "pointing_game", "energy_pointing_game", "annotated_inputs",
           "annotations_path"]
