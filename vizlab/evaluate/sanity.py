"""Sanity checks (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): does the map
depend on what the model learned?

Re-initialise the model's weights from the top, layer by layer (*cascading*), or one layer at a
time (*independent*), and compare each map with the trained model's map by four similarities
(``similarity``). A method whose map hardly changes is not explaining what the model learned.
"""
from __future__ import annotations

import copy
import math
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .. import targets as _targets
from ..hooks import check_generator, check_input, layer_list, model_lock, unwrap
from ..lookup import find_layer
from .maps import MethodLike, _need_model, _one_target, explain, get_method


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


def _flat64(m) -> np.ndarray:
    """A map (tensor, array or list) as a flat float64 array."""
    return np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m, dtype=np.float64).ravel()


def pearson(a, b) -> float:
    """Pearson's correlation of two maps (tensors or arrays of the same size, flattened), in float64:

        r = sum_i (a_i - mean a)(b_i - mean b) / sqrt(sum_i (a_i - mean a)^2 * sum_i (b_i - mean b)^2)

    As ``numpy.corrcoef(a, b)[0, 1]``, except for a constant map, which has no direction to correlate:
    two constant maps give 1.0 (alike), a constant and a varying map 0.0 (numpy gives nan)."""
    a, b = _flat64(a), _flat64(b)
    if a.size != b.size:
        raise ValueError(f"the two maps have {a.size} and {b.size} values; correlate maps of the same size "
                         "(upsample one to the other's shape first)")
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    if den > 0:
        return float((a * b).sum() / den)
    return 1.0 if np.array_equal(a, b) else 0.0


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps: ``pearson`` of their ranks (ties get the average
    rank), as ``scipy.stats.spearmanr``. A constant map has no ranking: two constant maps rank the
    pixels alike (1.0, e.g. a dead method's maps before and after randomisation); a constant and a
    varying map do not (0.0)."""
    from scipy.stats import rankdata              # deferred: scipy loads on first use (importing vizlab loads torch only)
    return pearson(rankdata(_flat64(a)), rankdata(_flat64(b)))


def _unit(m: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum (all-zero stays zero)."""
    top = float(m.max())
    return m / top if top > 0 else m


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Structural similarity (``skimage.metrics.structural_similarity``) of two maps, each
    scaled to [0, 1] by its maximum, as Adebayo et al. compare normalised maps."""
    from skimage.metrics import structural_similarity   # deferred: scikit-image loads on first use
    a, b = _unit(np.asarray(a, dtype=np.float64)), _unit(np.asarray(b, dtype=np.float64))
    return float(structural_similarity(a, b, data_range=1.0))


def hog_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the histograms of oriented gradients (``skimage.feature.hog``) of two
    maps scaled to [0, 1] -- Adebayo et al.'s third similarity (cells of ``min(H, W) // 14`` px)."""
    from skimage.feature import hog                # deferred: scikit-image loads on first use
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
    model = unwrap(model)
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
