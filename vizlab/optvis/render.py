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

from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from .. import hooks as _hooks
from .. import models as _models
from . import objectives as obj
from . import param as P
from . import transforms as T


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


def make_optimizer(optimizer: Optimizer, params: list, lr: float) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"``, ``"normalized"`` (L2-normalised ascent) or a factory ``lambda params: ...``."""
    if callable(optimizer):
        return optimizer(params)
    choices = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "normalized": NormalizedAscent}
    if optimizer not in choices:
        raise ValueError(f"optimizer must be one of {list(choices)} or a function params -> torch.optim "
                         f"optimizer, got {optimizer!r}")
    return choices[optimizer](params, lr=lr)


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
    return T.compose(transforms)


def _normalizer(model: nn.Module, like: torch.Tensor):
    meta = _models.info(model)
    mean = torch.tensor(meta.mean, device=like.device, dtype=like.dtype).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, device=like.device, dtype=like.dtype).view(1, -1, 1, 1)
    return lambda x: (x - mean) / std


def forward_objective(model: nn.Module, objective: obj.Objective, img: torch.Tensor,
                      transform: Callable, generator: Optional[torch.Generator]) -> torch.Tensor:
    """One forward pass: ``objective(acts)`` for the transformed, normalised image (``[N]``).
    Hooks are registered here and removed before returning (also on error)."""
    layers = [n for n in objective.layers if n not in ("image", "logits")]
    acts: dict = {"image": img}
    if layers or "logits" in objective.layers:
        x = _normalizer(model, img)(transform(img, generator))
        stop = "logits" not in objective.layers
        make = _recorders(layers, acts, stop)
        with _hooks.forward_hooks((_models.find_layer(model, n), make(n)) for n in layers):
            try:
                acts["logits"] = model(x)
            except _Stop:
                pass
    return objective(acts)


def render(model: nn.Module, objective, param: Optional[P.ImageParam] = None, transforms=None, steps: int = 128,
           optimizer: Optimizer = "adam", lr: float = 0.05, generator: Optional[torch.Generator] = None,
           progress: bool = True, post_step: Optional[Callable[[int, P.ImageParam], None]] = None):
    """Optimise ``param``'s image to maximise ``objective`` on ``model``; return ``(images, history)``.

    * ``param``: an ``ImageParam`` (default ``param.image(128)``: FFT, decorrelated colour, sigmoid).
    * ``transforms``: a list of transforms (default ``transforms.standard()``), a callable
      ``t(x, generator)``, or ``[]`` for none.
    * ``optimizer``: ``"adam"`` | ``"sgd"`` | ``"normalized"`` | ``lambda params: torch.optim.X(params, ...)``
      (``lr`` is used by the names only).
    * ``generator``: the only source of randomness (the initial noise when ``param`` is None, the
      transforms' draws); None means ``torch.Generator().manual_seed(0)``.
    * ``post_step(i, param)``: called after step ``i`` under ``no_grad`` (e.g. blur every k steps).

    Returns ``images`` (``N x 3 x H x W`` in [0, 1], detached) and ``history`` (``[steps, N]``: each
    image's score at each step, measured before that step's update).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    objective = obj.as_objective(objective)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    if param is None:
        param = P.image(128, generator=generator)
    if not isinstance(param, P.ImageParam):
        raise TypeError(f"param must be an ImageParam (e.g. vz.optvis.param.fft(96)), got {type(param).__name__}")
    transform = _as_transform(transforms)
    tensors = param.parameters()
    opt = make_optimizer(optimizer, tensors, lr)
    history = []
    from tqdm.auto import tqdm
    with _hooks.eval_mode(model):
        try:
            for i in tqdm(range(steps), disable=not progress, desc=objective.name[:40], leave=False):
                scores = forward_objective(model, objective, param(), transform, generator)
                grads = torch.autograd.grad(scores.sum(), tensors, allow_unused=True)
                for t, g in zip(tensors, grads):
                    t.grad = None if g is None else -g  # optimisers minimise: step along -(-g)
                opt.step()
                with torch.no_grad():
                    param.project()
                    if post_step is not None:
                        post_step(i, param)
                history.append(scores.detach())
        finally:
            for t in tensors:
                t.grad = None
    with torch.no_grad():
        images = param().detach()
    n = images.shape[0]
    hist = torch.stack(history) if history else torch.zeros(0, n)
    return images, hist


def score(model: nn.Module, objective, images: torch.Tensor) -> torch.Tensor:
    """The objective of ``images`` (``N x 3 x H x W`` in [0, 1]) without transforms: ``[N]``."""
    objective = obj.as_objective(objective)
    with _hooks.eval_mode(model), torch.no_grad():
        return forward_objective(model, objective, images, lambda x, g: x, None)


def invert(model: nn.Module, x: torch.Tensor, layer: str, *, steps: int = 200, lr: float = 0.05,
           tv_weight: float = 0.05, l2_weight: float = 0.0, param: Optional[P.ImageParam] = None,
           transforms: Sequence = (), generator: Optional[torch.Generator] = None, progress: bool = True):
    """Feature inversion: find an image whose ``layer`` features match those of ``x``.

    ``x`` is a model input (``vz.preprocess(photo, model)``, normalised). Starting from noise, maximise::

        -||A(img) - A(x)||^2 / ||A(x)||^2  -  tv_weight * TV(img)  -  l2_weight * mean(img^2)

    (Mahendran & Vedaldi 2015: a relative feature error plus total-variation and norm priors).
    Returns ``(images, history)`` as ``render`` does; images are in [0, 1] at ``x``'s size.
    """
    x = _hooks.check_input(x)
    target = _hooks.capture(model, x, layer).activations[layer]
    if param is None:
        param = P.pixels(x.shape[-2], x.shape[-1], batch=x.shape[0], generator=generator, device=x.device)
    objective = -obj.feature_match(layer, target)
    if tv_weight:
        objective = objective - tv_weight * obj.total_variation()
    if l2_weight:
        objective = objective - l2_weight * obj.l2()
    return render(model, objective, param=param, transforms=list(transforms), steps=steps, lr=lr,
                  generator=generator, progress=progress)


__all__ = ["render", "invert", "score", "forward_objective", "make_optimizer", "NormalizedAscent"]
