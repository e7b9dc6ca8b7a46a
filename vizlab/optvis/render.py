"""The loop: change the image so that the objective grows.

One step of ``render`` (Erhan et al. 2009; Olah et al. 2017)::

    img   = param()                          # N x 3 x H x W in [0, 1]
    x     = (transforms(img) - mean) / std   # random jitter/scale/rotate, then the model's normalisation
    score = objective(acts of model(x))      # [N], one score per image
    g     = d score.sum() / d param          # torch.autograd.grad: nothing lands in the model's .grad
    param <- optimizer step along +g         # Adam / SGD / the L2-normalised ascent step

``render`` hooks only the layers the objective reads (through ``vizlab.hooks.forward_hooks``,
removed in ``finally``) and stops the forward pass as soon as they are computed: maximising a
channel of ``blocks.3`` never runs ``blocks.4`` to the classifier. The model runs in eval mode
for the call and is left exactly as found.

``invert`` (Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting Them",
CVPR 2015) is ``render`` with a feature-matching objective and image priors.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from .. import hooks as _hooks
from .. import models as _models
from ..data import input_stats
from . import objectives as obj
from . import param as P
from . import transforms as T


class ZeroGradientWarning(UserWarning):
    """``render`` saw a gradient of exactly zero at every step for some images (``.images``): the
    objective does not depend on them (a dead channel, a ReLU that never fires for these inputs),
    so those images are still the starting noise."""

    def __init__(self, message: str, images: Sequence[int] = ()):
        super().__init__(message)
        self.images = list(images)


class NormalizedAscent(torch.optim.Optimizer):
    """Gradient step scaled to unit root-mean-square per image (the classic filter-ascent recipe)::

        p <- p - lr * grad / (sqrt(mean(grad^2)) + eps)     (mean over each image's entries)

    ``render`` stores ``grad = -d score / d p``, so this *ascends* the score by ``lr`` per pixel
    in RMS, however small or large the raw gradient is.
    """

    def __init__(self, params, lr: float = 1.0, eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                rms = g.pow(2).flatten(1).mean(1).sqrt().view(-1, *([1] * (g.ndim - 1)))
                p.sub_(group["lr"] * g / (rms + group["eps"]))


Optimizer = Union[str, Callable[[list], torch.optim.Optimizer]]


def _lbfgs(params: list, lr: float) -> torch.optim.LBFGS:
    """L-BFGS with one iteration (one forward and backward) per ``step(closure)`` and a memory of 20 steps."""
    return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=20)


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr (the step size) must be a finite number > 0, e.g. 0.05, got {lr!r}; render always "
                         "maximises -- to minimise a score, negate the objective instead of the step")
    return float(lr)


def make_optimizer(optimizer: Optimizer, params: list, lr: float) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"``, ``"normalized"`` (L2-normalised ascent), ``"lbfgs"`` (one L-BFGS iteration per
    step, the last 20 steps remembered: Gatys et al.'s choice for style transfer; ``lr=1`` is its usual
    step) or a factory ``lambda params: ...``."""
    if callable(optimizer):
        opt = optimizer(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"the optimizer factory returned {type(opt).__name__}; it must return a "
                            "torch.optim.Optimizer, e.g. lambda params: torch.optim.SGD(params, lr=0.1)")
        return opt
    choices = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "normalized": NormalizedAscent, "lbfgs": _lbfgs}
    if not isinstance(optimizer, str) or optimizer not in choices:
        raise ValueError(f"optimizer must be one of {list(choices)} or a function params -> torch.optim "
                         f"optimizer, got {optimizer!r}")
    return choices[optimizer](params, lr=_check_lr(lr))


class _Stop(Exception):
    """Raised by the last hook once every layer the objective reads has been computed."""


def _recorders(needed: Sequence[str], acts: dict, stop: bool):
    def make(name):
        def hook(module, inputs, output):
            acts[name] = output
            if stop and all(n in acts for n in needed):
                raise _Stop
            return output.clone()  # a later in-place op (ResNet's ReLU) must not change what we stored
        return hook
    return make


def _as_transform(transforms) -> Callable:
    if transforms is None:
        return T.compose(T.standard())
    if callable(transforms):
        return transforms
    return T.compose(T.as_list(transforms))


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module as the model, got {type(model).__name__}"
                        + ("; load it first: vizlab.load(name)" if isinstance(model, str) else ""))
    return _hooks.unwrap(model)


def _normalizer(model: nn.Module, like: torch.Tensor):
    """``x -> (x - mean) / std`` with the model's statistics (``vizlab.data.input_stats``), computed once."""
    mean, std = input_stats(model, like)
    return lambda x: (x - mean) / std


def _in_channels(model: nn.Module) -> Optional[int]:
    """The channels the model's first convolution takes (None without one), as ``probe_input``."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels


def model_input(model: nn.Module, img: torch.Tensor) -> torch.Tensor:
    """The model's input for an RGB image in [0, 1]: ``(img - mean) / std``, made grey (the mean of
    the colours) for a model whose first convolution takes one channel, in the model's dtype."""
    x = _normalizer(model, img)(img)
    if x.shape[1] == 3 and _in_channels(model) == 1:
        x = x.mean(1, keepdim=True)
    dtype = _hooks.model_dtype(model)
    return x if dtype is None or x.dtype == dtype else x.to(dtype)


def _check_scores(scores, n: int, objective: obj.Objective) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"the objective {objective.name!r} returned {type(scores).__name__}; it must return a "
                        f"tensor of one score per image, shape [{n}], computed from acts (no .item() or float())")
    if tuple(scores.shape) != (n,):
        raise ValueError(f"the objective {objective.name!r} must return one score per image, shape [{n}], got "
                         f"{list(scores.shape)}; reduce the other dimensions, e.g. A[:, c].mean((1, 2))")
    return scores


def forward_objective(model: nn.Module, objective: obj.Objective, img: torch.Tensor,
                      transform: Callable, generator: Optional[torch.Generator], *,
                      check: bool = False) -> torch.Tensor:
    """One forward pass: ``objective(acts)`` for the transformed, normalised image (``[N]``).
    Hooks are registered here and removed before returning (also on error). ``check=True`` also
    checks the model input against the model (``hooks.check_input``), e.g. on the first step."""
    layers = [n for n in objective.layers if n not in ("image", "logits")]
    acts: dict = {"image": img}
    if layers or "logits" in objective.layers:
        x = model_input(model, transform(img, generator))
        if check:
            x = _hooks.check_input(x, model)
        stop = "logits" not in objective.layers
        make = _recorders(layers, acts, stop)
        with _hooks.forward_hooks((_models.find_layer(model, n), make(n)) for n in layers):
            try:
                acts["logits"] = _hooks.run_model(model, x)
            except _Stop:
                pass
            except TypeError:                    # a model returning a tuple: fine if the layers ran
                if not stop or all(n in acts for n in layers):
                    raise
        missing = [n for n in layers if n not in acts]
        if missing:
            raise ValueError(f"layer(s) {missing} were not called in the forward pass; "
                             "pick layers that the model's forward actually uses")
    with obj.model_context(model):
        return _check_scores(objective(acts), img.shape[0], objective)


def _check_param(param) -> list:
    if not isinstance(param, P.ImageParam):
        raise TypeError(f"param must be an ImageParam (e.g. vz.optvis.param.fft(96)), got {type(param).__name__}")
    tensors = param.parameters()
    for t in tensors:
        if t.is_inference():
            raise ValueError("the param's tensors were made inside torch.inference_mode() and cannot be "
                             "optimised; make the param outside it (vizlab's param functions do that)")
    return tensors


def _per_image(grads, n: int) -> torch.Tensor:
    """Which of the ``n`` images got a non-zero gradient in this step (all, if the tensors have no
    batch dimension to tell them apart)."""
    alive = torch.zeros(n, dtype=torch.bool)
    for g in grads:
        if g is None:
            continue
        if g.ndim >= 1 and g.shape[0] == n:
            alive |= (g != 0).reshape(n, -1).any(1).cpu()
        elif bool((g != 0).any()):
            alive[:] = True
    return alive


def _warn_dead(alive: torch.Tensor, objective: obj.Objective, steps: int) -> None:
    dead = [i for i, a in enumerate(alive.tolist()) if not a]
    if not dead:
        return
    which = "the image" if len(alive) == 1 else f"image(s) {dead} of the batch"
    warnings.warn(ZeroGradientWarning(
        f"the gradient of {objective.name} was exactly zero at every one of the {steps} steps for {which}: "
        "the objective does not respond to the image there (a dead channel? a ReLU that never fires?), "
        "so the result is the starting noise, not a visualisation", dead), stacklevel=3)


def render(model: nn.Module, objective, param: Optional[P.ImageParam] = None, transforms=None, steps: int = 128,
           optimizer: Optimizer = "adam", lr: float = 0.05, generator: Optional[torch.Generator] = None,
           progress: Union[bool, Callable[[int, int], None]] = True,
           post_step: Optional[Callable[[int, P.ImageParam], None]] = None):
    """Optimise ``param``'s image to maximise ``objective`` on ``model``; return ``(images, history)``.

    * ``param``: an ``ImageParam`` (default ``param.image(128)``: FFT, decorrelated colour, sigmoid).
      Its RGB image in [0, 1] is normalised with the model's mean/std, made grey for a model whose
      first convolution takes one channel, and cast to the model's dtype.
    * ``transforms``: a list of transforms (default ``transforms.standard()``), a callable
      ``t(x, generator)``, or ``[]`` for none.
    * ``optimizer``: ``"adam"`` | ``"sgd"`` | ``"normalized"`` | ``"lbfgs"`` |
      ``lambda params: torch.optim.X(params, ...)`` (``lr`` > 0 is used by the names only). An optimiser
      that re-evaluates the objective (``torch.optim.LBFGS``) gets a closure, as PyTorch's
      ``step(closure)`` asks. The score is always maximised.
    * ``generator``: the only source of randomness (the initial noise when ``param`` is None, the
      transforms' draws); None means ``torch.Generator().manual_seed(0)``.
    * ``post_step(i, param)``: called after step ``i`` under ``no_grad`` (e.g. blur every k steps).

    Returns ``images`` (``N x 3 x H x W`` in [0, 1], detached) and ``history`` (``[steps, N]``: each
    image's score at each step, measured before that step's update). Works inside ``torch.no_grad()``
    and ``torch.inference_mode()``. Warns (``ZeroGradientWarning``) if an image's gradient was exactly
    zero at every step: it is then still the starting noise.
    """
    model = _check_model(model)
    steps = _hooks.check_count("steps", steps, 0)
    _check_lr(lr)
    objective = obj.as_objective(objective)
    if post_step is not None and not callable(post_step):
        raise TypeError(f"post_step must be a function (i, param) -> None, got {type(post_step).__name__}")
    generator = _hooks.check_generator(generator)
    transform = _as_transform(transforms)
    with torch.inference_mode(False), torch.enable_grad():   # gradients whatever the caller's grad mode
        if param is None:
            param = P.image(128, generator=generator)
        _check_param(param)
        opt = make_optimizer(optimizer, param.parameters(), lr)
        with _hooks.eval_mode(model):
            return ascend(model, objective, param, opt, transform, steps, generator, progress, post_step)


def ascend(model: nn.Module, objective: obj.Objective, param: P.ImageParam, opt: torch.optim.Optimizer,
           transform: Callable, steps: int, generator: Optional[torch.Generator],
           progress: Union[bool, Callable[[int, int], None]] = False,
           post_step: Optional[Callable[[int, P.ImageParam], None]] = None):
    """``render``'s loop, for callers that have already checked the arguments and hold the model in
    eval mode (as ``render`` and ``vizlab.style.transfer`` do). Each step evaluates::

        closure():  score = objective(model(transform(param())));  p.grad = -d score.sum() / d p

    and then ``opt.step()`` -- or ``opt.step(closure)`` for an optimiser that re-evaluates the
    objective itself (L-BFGS: Liu & Nocedal 1989; one closure call per step with ``max_iter=1``).
    ``history[i]`` is the score of the step's first evaluation, before its update. Returns
    ``(images, history)`` as ``render``."""
    tensors = param.parameters()
    n = param.shape[0]
    alive = torch.zeros(n, dtype=torch.bool)
    history: list = []
    step: dict = {"i": 0, "scores": None}

    def closure() -> torch.Tensor:
        i = step["i"]
        scores = forward_objective(model, objective, param(), transform, generator,
                                   check=i == 0 and step["scores"] is None)
        _check_step(scores, objective, i)
        grads = torch.autograd.grad(scores.sum(), tensors, allow_unused=True)
        if any(g is not None and not torch.isfinite(g).all() for g in grads):
            raise ValueError(f"the gradient of {objective.name} is NaN or infinite at step {i}; "
                             "check the objective's weights and the image parameterisation")
        alive.logical_or_(_per_image(grads, n))
        for t, g in zip(tensors, grads):
            t.grad = None if g is None else -g  # optimisers minimise: step along -(-g)
        if step["scores"] is None:
            step["scores"] = scores.detach()
        return -scores.detach().sum()

    needs_closure = isinstance(opt, torch.optim.LBFGS)
    report = _hooks.progress_reporter(progress, objective.name)
    with torch.inference_mode(False), torch.enable_grad():
        try:
            for i in range(steps):
                step.update(i=i, scores=None)
                if needs_closure:
                    opt.step(closure)
                else:
                    closure()
                    opt.step()
                with torch.no_grad():
                    param.project()
                    if post_step is not None:
                        post_step(i, param)
                history.append(step["scores"])
                if report is not None:
                    report(i + 1, steps)
        finally:
            for t in tensors:
                t.grad = None
        with torch.no_grad():
            images = param().detach()
    if steps:
        _warn_dead(alive, objective, steps)
    hist = torch.stack(history) if history else torch.zeros(0, images.shape[0])
    return images, hist


def _check_step(scores: torch.Tensor, objective: obj.Objective, i: int) -> None:
    if not torch.isfinite(scores).all():
        raise ValueError(f"the objective {objective.name} is NaN or infinite at step {i} "
                         f"({scores.detach().tolist()}); check its weights and the image parameterisation")
    if not scores.requires_grad:
        raise ValueError(f"the objective {objective.name} is not computed from the image (did it use .detach(), "
                         ".item() or torch.tensor(...)?); return an expression of acts[...]")


def score(model: nn.Module, objective, images: torch.Tensor) -> torch.Tensor:
    """The objective of ``images`` (float pixels ``N x 3 x H x W`` in [0, 1], in the model's dtype)
    without transforms: ``[N]``."""
    model = _check_model(model)
    objective = obj.as_objective(objective)
    images = P.check_pixels(images, "images")
    dtype = _hooks.model_dtype(model)
    if dtype is not None and images.dtype != dtype:
        _hooks.check_input(images, model)     # raises: the input is float64 but the model's weights are ...
    with _hooks.eval_mode(model), torch.no_grad():
        return forward_objective(model, objective, images, lambda x, g: x, None, check=True)


def _weight(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (0 switches the prior off), got {value!r}")
    return float(value)


def invert(model: nn.Module, x: torch.Tensor, layer: str, *, steps: int = 200, lr: float = 0.05,
           tv_weight: float = 0.05, l2_weight: float = 0.0, param: Optional[P.ImageParam] = None,
           transforms: Sequence = (), generator: Optional[torch.Generator] = None,
           progress: Union[bool, Callable[[int, int], None]] = True):
    """Feature inversion: find an image whose ``layer`` features match those of ``x``.

    ``x`` is a model input (``vz.preprocess(photo, model)``, normalised). Starting from noise, maximise::

        -||A(img) - A(x)||^2 / ||A(x)||^2  -  tv_weight * TV(img)  -  l2_weight * mean(img^2)

    (Mahendran & Vedaldi 2015: a relative feature error plus total-variation and norm priors).
    ``generator`` draws the starting noise and the transforms (None: ``torch.Generator().manual_seed(0)``).
    Returns ``(images, history)`` as ``render`` does; images are in [0, 1] at ``x``'s size.
    """
    model = _check_model(model)
    x = _hooks.check_input(x, model)
    if not isinstance(layer, str):
        raise TypeError(f"invert matches one layer, named by a string such as 'blocks.5', got {type(layer).__name__}")
    _hooks.check_count("steps", steps, 0)
    _check_lr(lr)
    tv_weight, l2_weight = _weight("tv_weight", tv_weight), _weight("l2_weight", l2_weight)
    generator = _hooks.check_generator(generator)
    with _hooks.model_lock(model):
        target = _hooks.capture(model, x, layer).activations[layer]
        if param is None:
            param = P.pixels(x.shape[-2], x.shape[-1], batch=x.shape[0], generator=generator, device=x.device)
        objective = -obj.feature_match(layer, target)
        if tv_weight:
            objective = objective - tv_weight * obj.total_variation()
        if l2_weight:
            objective = objective - l2_weight * obj.l2()
        return render(model, objective, param=param, transforms=T.as_list(transforms), steps=steps, lr=lr,
                      generator=generator, progress=progress)


__all__ = ["render", "ascend", "invert", "score", "forward_objective", "model_input", "make_optimizer", "NormalizedAscent",
           "ZeroGradientWarning"]
