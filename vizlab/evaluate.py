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
comes only from a ``torch.Generator`` passed in.
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

from . import targets as _targets
from .hooks import check_input, eval_mode

MethodLike = Union[str, Callable[..., torch.Tensor], torch.Tensor]
Box = Sequence[float]   # (x0, y0, x1, y1) in pixels of the model input; x1, y1 exclusive


# --------------------------------------------------------------------------------------------
# Methods by name, and the two baselines that say what "good" means
# --------------------------------------------------------------------------------------------

def random_map(model: nn.Module, x: torch.Tensor, target=None, *,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Baseline: uniform noise ``[N, H, W]`` -- a map that knows nothing."""
    n, _, h, w = x.shape
    return torch.rand((n, h, w), generator=generator, dtype=x.dtype).to(x.device)


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
    from .attribution import saliency, smoothgrad
    return smoothgrad(saliency, model, x, target, generator=generator, **options)


def _method_table() -> dict:
    from . import attribution as at, cam
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


def explain(method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target = None,
            generator: Optional[torch.Generator] = None, raw: bool = False, **options) -> torch.Tensor:
    """One map ``[N, H, W]`` per image from any method: a name, a function or a precomputed tensor.

    ``generator`` is passed on to methods that draw noise (SmoothGrad, Smooth Grad-CAM++, the
    random map). ``raw=True`` returns the method's output unreduced (attributions stay
    ``[N, C, H, W]``), as the sanity check needs for signed comparisons.
    """
    check_input(x)
    if isinstance(method, torch.Tensor):
        out = method.detach()
    else:
        fn = get_method(method)
        if generator is not None and _accepts(fn, "generator"):
            options = {**options, "generator": generator}
        out = fn(model, x, target, **options)
    if not isinstance(out, torch.Tensor) or out.shape[0] != x.shape[0] or tuple(out.shape[-2:]) != tuple(x.shape[-2:]):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"a method must return a map [N, H, W] or an attribution [N, C, H, W] at the input's "
                         f"resolution {tuple(x.shape[-2:])}, got {got}; for a CAM method keep upsample=True")
    return out.detach() if raw else to_map(out)


def method_label(method: MethodLike) -> str:
    if isinstance(method, str):
        return method
    if isinstance(method, torch.Tensor):
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
    if isinstance(generator, int) and not isinstance(generator, bool):
        return [generator] * n
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return [int(s) for s in torch.randint(0, 2 ** 62, (n,), generator=generator)]


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


def _steps(layers: Sequence[Union[str, Sequence[str]]]) -> list[tuple[str, list[str]]]:
    """A step is a layer name or a group of names (randomised together; labelled by the last)."""
    out = []
    for step in layers:
        names = [step] if isinstance(step, str) else list(step)
        if not names:
            raise ValueError("an empty group of layers cannot be randomised")
        out.append((names[-1] if isinstance(step, str) else f"{names[0]}..{names[-1]}", names))
    return out


def randomize(model: nn.Module, layers: Optional[Sequence[Union[str, Sequence[str]]]] = None,
              mode: str = "cascading", generator: Union[None, int, torch.Generator] = None
              ) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer, randomised copy of model)`` for each step of Adebayo et al.'s model
    randomisation; the original ``model`` is never changed (it is deep-copied).

    * ``mode="cascading"``: step ``k`` has layers ``0..k`` re-initialised (list them from the
      output down: ``randomizable_layers(model)`` is the default);
    * ``mode="independent"``: step ``k`` has only layer ``k`` re-initialised.

    Each layer ``k`` is re-initialised with seed ``s_k`` (``reset_layer``), so its random weights
    are the same in both modes and for the same ``generator`` (a ``torch.Generator``, or an int
    used as every layer's seed, as Quantus does). An entry of ``layers`` may be a list of names
    randomised together. The copy yielded in cascading mode is re-used (and changed) by the
    next step: use it before asking for the next one.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', not {mode!r}")
    from .models import find_layer
    steps = _steps(randomizable_layers(model) if layers is None else layers)
    for _, names in steps:
        for name in names:
            find_layer(model, name)          # unknown names fail here, with suggestions
    seeds = _layer_seeds(len(steps), generator)
    work = copy.deepcopy(model)
    for (label, names), seed in zip(steps, seeds):
        if mode == "independent":
            work = copy.deepcopy(model)
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
    return float((ra * rb).sum() / den) if den > 0 else 0.0


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
    if ha.std() == 0 or hb.std() == 0:
        return 0.0
    return float(np.corrcoef(ha, hb)[0, 1])


SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog")


def similarity(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Adebayo et al.'s four similarities of two outputs of one method (maps ``[H, W]`` or
    attributions ``[C, H, W]``): Spearman rank correlation of ``|a|`` (the map) and of the
    signed channel sum, SSIM and HOG similarity of the absolute maps."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
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
    ``method_generator_seed`` for every model, so that only the weights differ.
    """
    if isinstance(method, torch.Tensor):
        raise TypeError("a sanity check must recompute the map on each randomised model: pass a method "
                        "name or function, not a precomputed map")
    check_input(x)
    with torch.no_grad(), eval_mode(model):
        logits = model(x)
    target = _targets.class_indices(target, logits).tolist() if not callable(target) else target

    def run(m):
        g = torch.Generator().manual_seed(method_generator_seed)
        return explain(method, m, x, target, generator=g, raw=True, **options)

    original = run(model)
    rows = [{"layer": "original", "image": i, **similarity(original[i], original[i])} for i in range(len(x))]
    for label, randomized in randomize(model, layers, mode, generator):
        maps = run(randomized)
        rows += [{"layer": label, "image": i, **similarity(original[i], maps[i])} for i in range(len(x))]
    return rows


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


def substrate(model: nn.Module, x: torch.Tensor, kind: Union[str, float, torch.Tensor] = "black") -> torch.Tensor:
    """What removed pixels become, in model input space: ``"black"`` (pixel value 0, i.e.
    ``-mean/std``), ``"blur"`` (``blur(x)``), ``"mean"`` (each image's channel mean), a number or a
    tensor broadcastable to ``x``."""
    if isinstance(kind, torch.Tensor):
        return kind.detach().to(x).expand_as(x).clone()
    if isinstance(kind, (int, float)) and not isinstance(kind, bool):
        return torch.full_like(x, float(kind))
    if kind == "blur":
        return blur(x)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "black":
        from .models import info
        meta = info(model)
        mean = torch.tensor(meta.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(meta.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return ((0 - mean) / std).expand_as(x).clone()
    raise ValueError(f"substrate must be 'black', 'blur', 'mean', a number or a tensor, not {kind!r}")


def order(saliency_map: torch.Tensor) -> torch.Tensor:
    """Pixel indices (flattened ``i * W + j``) from the most to the least important; ties keep
    their reading order (a stable sort), so a constant map deletes row by row."""
    return torch.argsort(saliency_map.reshape(-1), descending=True, stable=True)


def _probabilities(model: nn.Module, images: torch.Tensor, target: int, softmax: bool) -> torch.Tensor:
    logits = model(images)
    return (logits.softmax(-1) if softmax else logits)[:, target]


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
    _, _, h, w = x.shape
    n_pix = h * w
    s = max(1, int(round(step * n_pix))) if isinstance(step, float) and step < 1 else int(step)
    if s < 1:
        raise ValueError(f"step must be a number of pixels >= 1 or a fraction in (0, 1), got {step}")
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
            out.append(_probabilities(model, images, target, softmax))
    return torch.cat(out)


def _one_target(model: nn.Module, x: torch.Tensor, target: _targets.Target) -> list[int]:
    with torch.no_grad(), eval_mode(model):
        logits = model(x)
    return _targets.class_indices(target, logits).tolist()


def _curves(kind: str, method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target,
            step, batch_size: int, substrate_kind, softmax: bool, generator, options) -> torch.Tensor:
    check_input(x)
    classes = _one_target(model, x, target)
    maps = explain(method, model, x, classes, generator=generator, **options)
    base = substrate(model, x, substrate_kind)
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
    makes it fall fast: low ``auc``. ``target`` defaults to the predicted class."""
    return _curves("deletion", method, model, x, target, step, batch_size, substrate, softmax, generator, options)


def insertion(method: MethodLike, model: nn.Module, x: torch.Tensor, target: _targets.Target = None, *,
              step: Union[int, float] = 0.01, batch_size: int = 4, substrate: Union[str, float, torch.Tensor] = "blur",
              softmax: bool = True, generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """Insertion curves ``[N, K + 1]`` (Petsiuk et al. 2018): start from the ``substrate``
    (default a blurred copy) and put back the most important pixels first. A faithful map makes
    the class probability rise fast: high ``auc``."""
    return _curves("insertion", method, model, x, target, step, batch_size, substrate, softmax, generator, options)


def auc(curve: torch.Tensor) -> torch.Tensor:
    """Area under curve(s) ``[..., K + 1]`` on an x axis from 0 to 1 (trapezoid rule):
    ``(sum_k p_k - p_0 / 2 - p_K / 2) / K``, as in the RISE code."""
    curve = torch.as_tensor(curve)
    k = curve.shape[-1] - 1
    if k < 1:
        raise ValueError("a curve needs at least two points")
    return (curve.sum(-1) - curve[..., 0] / 2 - curve[..., -1] / 2) / k


# --------------------------------------------------------------------------------------------
# Localisation: pointing games
# --------------------------------------------------------------------------------------------

def box_mask(boxes: Union[Box, Sequence[Box]], size: tuple[int, int], tolerance: int = 0,
             device=None) -> torch.Tensor:
    """A boolean mask ``[H, W]``, True inside any of the boxes ``(x0, y0, x1, y1)`` (pixels of
    the model input, ``x1``/``y1`` exclusive), each grown by ``tolerance`` pixels."""
    if len(boxes) == 4 and all(isinstance(v, (int, float)) for v in boxes):
        boxes = [boxes]
    h, w = size
    mask = torch.zeros((h, w), dtype=torch.bool, device=device)
    for x0, y0, x1, y1 in boxes:
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"a box is (x0, y0, x1, y1) with x0 < x1 and y0 < y1, got {(x0, y0, x1, y1)}")
        mask[max(0, int(y0) - tolerance):int(y1) + tolerance, max(0, int(x0) - tolerance):int(x1) + tolerance] = True
    return mask


def _maps_for(method, model, x, target, generator, options) -> torch.Tensor:
    check_input(x)
    return explain(method, model, x, target, generator=generator, **options)


def _masks(boxes, n: int, size, tolerance: int, device) -> list[torch.Tensor]:
    """``boxes``: one box list for a single image, or a list of box lists (one per image)."""
    if n == 1 and (len(boxes) == 4 and all(isinstance(v, (int, float)) for v in boxes)
                   or all(len(b) == 4 and all(isinstance(v, (int, float)) for v in b) for b in boxes)):
        boxes = [boxes]
    if len(boxes) != n:
        raise ValueError(f"got boxes for {len(boxes)} images but the batch holds {n}; pass one list of boxes per image")
    return [box_mask(b, size, tolerance, device) for b in boxes]


def pointing_game(method: MethodLike, model: nn.Module, x: torch.Tensor, boxes, target: _targets.Target = None,
                  *, tolerance: int = 0, generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): 1.0 if the map's maximum lies inside the object's
    box(es), grown by ``tolerance`` pixels (the paper uses 15), else 0.0; one value per image.
    When several pixels share the maximum, one of them inside the box is a hit (as Quantus)."""
    maps = _maps_for(method, model, x, target, generator, options)
    masks = _masks(boxes, len(x), tuple(x.shape[-2:]), tolerance, x.device)
    return torch.stack([((m == m.max()) & mask).any().to(x.dtype) for m, mask in zip(maps, masks)])


def energy_pointing_game(method: MethodLike, model: nn.Module, x: torch.Tensor, boxes,
                         target: _targets.Target = None, *, generator: Optional[torch.Generator] = None,
                         **options) -> torch.Tensor:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM Sec. 5.2): the share of the map's
    energy inside the box(es), ``sum_{ij in box} m_ij / sum_ij m_ij``, on the map with negative
    values set to 0. A uniform map scores the box's area fraction. One value per image."""
    maps = _maps_for(method, model, x, target, generator, options).clamp(min=0)
    masks = _masks(boxes, len(x), tuple(x.shape[-2:]), 0, x.device)
    return torch.stack([(m * mask).sum() / m.sum().clamp(min=1e-12) for m, mask in zip(maps, masks)])


# --------------------------------------------------------------------------------------------
# The annotated photos and two-object canvases (data/annotations.json)
# --------------------------------------------------------------------------------------------

def annotations_path() -> "Path":
    """``data/annotations.json`` of the vizlab checkout (boxes drawn by hand, see data/README.md)."""
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "data" / "annotations.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the annotations live in the vizlab repository's data/ folder; "
                                "run from a checkout (pip install -e .)")
    return path


def _shrink(x: torch.Tensor, half: int) -> torch.Tensor:
    return F.interpolate(x, size=(half, half), mode="area")


def annotated_inputs(model: nn.Module, path=None, canvases: bool = True) -> list[dict]:
    """The annotated photos (and two-object canvases) as model inputs: a list of
    ``{"name", "x" [1, 3, S, S], "target" (class index), "label", "boxes" [[x0, y0, x1, y1], ...]}``.

    A canvas shows two photos at half size side by side on grey; it appears twice, once per
    object, with that object's class as the target and its (halved, moved) boxes."""
    import json
    from .data import preprocess, sample_image
    from .models import info
    spec = json.loads((annotations_path() if path is None else path).read_text())
    size, photos = spec["size"], spec["photos"]
    xs = {name: preprocess(sample_image(name), model) for name in photos}
    items = [{"name": n, "x": xs[n], "target": a["class"], "label": a["label"], "boxes": a["boxes"]}
             for n, a in photos.items()]
    if not canvases:
        return items
    meta = info(model)
    grey = ((0.5 - torch.tensor(meta.mean)) / torch.tensor(meta.std)).view(1, -1, 1, 1)
    half, top = size // 2, size // 4
    for cname, c in spec.get("canvases", {}).items():
        canvas = grey.expand(1, 3, size, size).clone()
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
