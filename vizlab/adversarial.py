"""Adversarial examples: a small, structured change of the pixels that changes the class.

Every attack here works in *pixel* space: images are tensors ``[N, C, H, W]`` with values in
[0, 1], the budget ``eps`` is in pixel units (``2/255`` = two grey levels of an 8-bit image) and
the result is clipped to valid pixels, so "invisible" means what it says. The model's own
normalisation ``(p - mean) / std`` is applied inside (``Normalized``); ``pixels(x, model)``
turns a ``vizlab.preprocess`` tensor back into pixels and ``normalize(p, model)`` the other way.

Notation: ``p`` the clean pixels, ``y`` the label, ``L = CE(f(p), y)`` the cross-entropy loss.

* ``fgsm`` -- fast gradient sign method (Goodfellow, Shlens & Szegedy, "Explaining and
  harnessing adversarial examples", ICLR 2015, eq. 3)::

      p_adv = clip_[0,1]( p + eps * sign(dL/dp) )

* ``pgd`` -- projected gradient descent (Madry et al., "Towards deep learning models resistant
  to adversarial attacks", ICLR 2018): ``steps`` small steps, each followed by a projection back
  into the ball ``||p_adv - p|| <= eps`` and into [0, 1]::

      L-inf:  p' = p_t + step * sign(g)           p_{t+1} = clip_[0,1]( p + clip_[-eps,eps](p' - p) )
      L2:     p' = p_t + step * g / ||g||_2       p_{t+1} = clip_[0,1]( p + d * min(1, eps / ||d||_2) ),  d = p' - p

  optionally from a random start in the ball (drawn from a ``torch.Generator``).

* ``fooling_image`` -- CS231n's ``make_fooling_image``: gradient ascent on one class's logit,
  ``p <- clip_[0,1](p + lr * g / ||g||_2)``, ``g = d logit_target / dp``, until that class is top-1.

A *targeted* attack (``target=...``) descends the loss of the target class instead:
``p - eps * sign(d CE(f(p), target) / dp)``. Each image's gradient is its own (the loss is
summed over the batch, and images do not interact in eval mode).

Hygiene, as for every vizlab method: the model runs in eval mode for the call (its flags and
buffers restored afterwards), gradients come from ``torch.autograd.grad`` with respect to a copy
of the pixels (no parameter ``.grad``, no hook), the input tensor is never modified, and the
only randomness is the ``generator`` passed in.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from typing import Iterator, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from . import targets as _targets
from .data import channel_stats
from .hooks import check_count, check_generator, check_input, eval_mode, run_model, unwrap
from .models import info

Label = Union[None, int, str, Sequence[int], Sequence[str], torch.Tensor]
NORMS = ("linf", "l2")

__all__ = ["Normalized", "pixel_model", "pixels", "normalize", "fgsm", "pgd", "fooling_image", "Fooled",
           "random_sign", "magnify", "NORMS"]


# --------------------------------------------------------------------------------------------
# Pixels in, normalisation inside
# --------------------------------------------------------------------------------------------

class Normalized(nn.Module):
    """``Normalized(model, mean, std)(p) = model((p - mean) / std)``: a model that takes pixels in [0, 1].

    ``mean`` and ``std`` are numbers or one value per channel; the defaults (0 and 1) pass the
    pixels through unchanged, for a model trained on raw pixels.
    """

    def __init__(self, model: nn.Module, mean: Union[float, Sequence[float]] = 0.0,
                 std: Union[float, Sequence[float]] = 1.0):
        super().__init__()
        self.model = model
        self.training = model.training  # the wrapper's own flag follows the model's (nothing below changes)
        self.mean = tuple(mean) if isinstance(mean, (list, tuple)) else (float(mean),)
        self.std = tuple(std) if isinstance(std, (list, tuple)) else (float(std),)
        if len(set(self.mean)) == 1 and len(set(self.std)) == 1:  # one value for all channels fits any image
            self.mean, self.std = self.mean[:1], self.std[:1]
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")

    def _stats(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return channel_stats(self.mean, self.std, p)

    def normalize(self, p: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(p)
        return (p - mean) / std

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return x * std + mean

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(p))


def pixel_model(model: nn.Module) -> Normalized:
    """``model`` as a function of pixels in [0, 1], with the mean/std that ``vizlab.load`` attached
    (``vizlab.info(model)``; ImageNet's for any other model). A ``Normalized`` model is returned as is:
    wrap a model trained on raw pixels in ``Normalized(model)`` to skip normalisation."""
    if isinstance(model, Normalized):
        return model
    meta = info(model)
    return Normalized(model, meta.mean, meta.std)


def pixels(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """A normalised input (``vizlab.preprocess(image, model)``) -> pixels in [0, 1]: ``x * std + mean``."""
    x = check_input(x)
    return pixel_model(model).pixels(x.detach()).clamp(0, 1).contiguous()


def normalize(p: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Pixels in [0, 1] -> the normalised input the model takes: ``(p - mean) / std``
    (e.g. to run ``vizlab.saliency`` on an adversarial image)."""
    _check_pixels(p)
    return pixel_model(model).normalize(p.detach())


def random_sign(like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The control for an attack: +1 or -1 in every pixel, each with probability 1/2, shaped like ``like``
    (its dtype and device). ``p + eps * random_sign(p)`` moves every pixel as far as FGSM's
    ``p + eps * sign(gradient)`` does -- the same L-infinity and L2 size -- in directions that ignore the model,
    so the difference in what the two do to the prediction is the gradient's doing (Goodfellow et al. 2015)."""
    generator = check_generator(generator)                 # None: seed 0, never the global RNG
    bits = torch.randint(0, 2, like.shape, generator=generator, device=generator.device)
    return bits.to(device=like.device, dtype=like.dtype) * 2 - 1


def magnify(delta: torch.Tensor, eps: Optional[float] = None) -> torch.Tensor:
    """A perturbation made visible: ``0.5 + delta / (2 eps)`` maps [-eps, eps] onto [0, 1]
    (grey = unchanged). ``eps`` defaults to the largest ``|delta|`` of each image."""
    if not isinstance(delta, torch.Tensor) or not delta.is_floating_point() or delta.ndim < 2:
        got = f"{delta.dtype} {tuple(delta.shape)}" if isinstance(delta, torch.Tensor) else type(delta).__name__
        raise ValueError(f"magnify takes a perturbation delta = p_adv - p, a float tensor [N, ...], got {got}")
    if not torch.isfinite(delta).all():
        raise ValueError("magnify: the perturbation holds NaN or infinite values; check the images it came from")
    d = delta.detach()
    if isinstance(eps, torch.Tensor):
        if not (torch.isfinite(eps).all() and (eps > 0).all()):
            raise ValueError("magnify: eps must be finite and > 0 (the size that maps to white), got " f"{eps}")
    elif eps is not None:
        eps = _budget(eps, "magnify", "eps", upper=math.inf)
    else:
        eps = d.abs().flatten(1).amax(1).clamp(min=1e-12).view(-1, *[1] * (d.ndim - 1))
    return (0.5 + d / (2 * eps)).clamp(0, 1)


def _check_pixels(p: torch.Tensor, model: Optional[nn.Module] = None) -> torch.Tensor:
    """``p`` as a finite float batch of pixels in [0, 1] that fits ``model`` (if given); returns the tensor to
    use (a copy if it was made under ``torch.inference_mode()``)."""
    p = check_input(p, model)
    lo, hi = float(p.min()), float(p.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"attacks take pixels in [0, 1]; these span [{lo:.3g}, {hi:.3g}] -- a normalised input "
                         "from vizlab.preprocess? Convert it with vizlab.adversarial.pixels(x, model)")
    return p


def _budget(value, fn: str, name: str, upper: float = 1.0) -> float:
    """A step size or budget: a finite real number in (0, ``upper``] (pixel units), as a float."""
    unit = "pixel units, e.g. 8/255" if upper == 1.0 else "pixel units"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a number in {unit}, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0 < value <= upper:
        bound = "must be > 0 and <= 1" if upper == 1.0 else "must be > 0 and finite"
        hint = " (8 lets every pixel jump to 0 or 1; the explorer's 8 means 8/255)" if upper == 1.0 and value > 1 else ""
        raise ValueError(f"{fn}: {name} is in {unit} and {bound}; got {value}{hint}")
    return value


@contextlib.contextmanager
def _gradients_on() -> Iterator[None]:
    """Gradients enabled for the block, whatever the caller's mode (``torch.no_grad()``,
    ``torch.inference_mode()``): an attack differentiates the model."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def _logits(net: nn.Module, p: torch.Tensor) -> torch.Tensor:
    """``net(p)`` for a ``Normalized`` net, the model itself run through ``hooks.run_model`` (errors
    that say what went wrong: an image too small for the model, a model that returns no tensor)."""
    return run_model(net.model, net.normalize(p))


# --------------------------------------------------------------------------------------------
# One gradient, the attacks built on it
# --------------------------------------------------------------------------------------------

def _labels(net: nn.Module, p: torch.Tensor, label: Label, name: str = "label") -> torch.Tensor:
    """The class per image as a long tensor [N]: ``label`` as given (an int or class name for all
    images, or one per image), or -- for ``None`` -- what the model predicts for ``p`` (one extra
    forward pass). Floats are refused, not truncated."""
    if isinstance(label, bool) or callable(label):
        raise TypeError(f"{name} is a class index: an int, a class name, or a list of those (one per image)")

    def clean_logits():
        with torch.no_grad():
            return _logits(net, p)
    try:
        idx = _targets.freeze(label, net.model, p.shape[0], clean_logits)
    except (TypeError, ValueError) as err:
        if type(err) not in (TypeError, ValueError):
            raise
        raise type(err)(str(err).replace("target", name)) from None
    return idx.to(p.device)


def _check_range(classes: torch.Tensor, logits: torch.Tensor) -> None:
    if int(classes.max()) >= logits.shape[1]:
        raise ValueError(f"class {int(classes.max())} is outside 0..{logits.shape[1] - 1} "
                         f"(the model has {logits.shape[1]} outputs)")


def loss_gradient(net: nn.Module, p: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``dL/dp`` with ``L = sum_n CE(f(p_n), classes_n)``: each row is one image's own gradient."""
    with _gradients_on():
        p = p.detach().requires_grad_(True)
        logits = _logits(net, p) if isinstance(net, Normalized) else run_model(net, p)
        _check_range(classes, logits)
        loss = F.cross_entropy(logits, classes, reduction="sum")
        (grad,) = torch.autograd.grad(loss, p)
    return grad


def _prepare(model: nn.Module, p: torch.Tensor, label: Label, target: Label, eps: float, name: str,
             norm: str = "linf"):
    """Check the arguments every attack shares; return ``(net, p, eps)``: the pixel model, the pixels
    to use and the budget as a float (L-inf: ``0 < eps <= 1``; L2: any finite ``eps > 0``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name}: expected a torch.nn.Module as the model, got {type(model).__name__}"
                        + ("; load it first: vizlab.load(name)" if isinstance(model, str) else ""))
    model = unwrap(model)
    p = _check_pixels(p, model)
    eps = _budget(eps, name, "eps", upper=1.0 if norm == "linf" else math.inf)
    if label is not None and target is not None:
        raise ValueError(f"{name}: pass label= (move away from this class) or target= (move towards this class), "
                         "not both")
    return pixel_model(model), p, eps


def fgsm(model: nn.Module, p: torch.Tensor, label: Label = None, eps: float = 2 / 255, *,
         target: Label = None) -> torch.Tensor:
    """Fast gradient sign method: ``clip_[0,1](p + eps * sign(dL/dp))`` (Goodfellow et al. 2015).

    ``p`` pixels ``[N, C, H, W]`` in [0, 1]; ``label`` the class to move away from (default: the
    model's prediction on ``p``); or ``target`` the class to move towards (then
    ``p - eps * sign(d CE(f(p), target)/dp)``). Returns new pixels, ``p`` is left untouched.
    """
    net, p, eps = _prepare(model, p, label, target, eps, "fgsm")
    with eval_mode(model), _gradients_on():
        direction, classes = _direction(net, p, label, target)
        grad = loss_gradient(net, p, classes)
        return (p.detach() + direction * eps * grad.sign()).clamp(0, 1).detach()


def _direction(net: nn.Module, p: torch.Tensor, label: Label, target: Label) -> tuple[float, torch.Tensor]:
    """+1 and the label (ascend its loss), or -1 and the target (descend the target's loss)."""
    if target is not None:
        return -1.0, _labels(net, p, target, "target")
    return 1.0, _labels(net, p, label, "label")


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *[1] * (t.ndim - 1))


def _random_start(p: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A random point of the eps-ball around ``p`` (L-inf: uniform per pixel; L2: a random
    direction at a uniform radius in [0, eps]), clipped to [0, 1]."""
    dev = generator.device
    if norm == "linf":
        delta = (torch.rand(p.shape, generator=generator, dtype=p.dtype, device=dev) * 2 - 1) * eps
    else:
        delta = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=dev)
        radius = torch.rand(p.shape[0], generator=generator, dtype=p.dtype, device=dev).view(-1, 1, 1, 1)
        delta = delta / _per_image_norm(delta) * radius * eps
    return (p + delta.to(p.device)).clamp(0, 1)


def project(adv: torch.Tensor, p: torch.Tensor, eps: float, norm: str = "linf") -> torch.Tensor:
    """Back into the eps-ball around ``p`` and into [0, 1] (PGD's projection).

    L-inf: ``p + clip_[-eps, eps](adv - p)``; L2: ``p + d * min(1, eps / ||d||_2)``, ``d = adv - p``.
    """
    if norm == "linf":
        delta = torch.clamp(adv - p, min=-eps, max=eps)
    elif norm == "l2":
        delta = adv - p
        delta = delta * torch.clamp(eps / _per_image_norm(delta).clamp(min=1e-12), max=1.0)
    else:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    return torch.clamp(p + delta, min=0, max=1)


def pgd(model: nn.Module, p: torch.Tensor, label: Label = None, eps: float = 2 / 255, *,
        target: Label = None, norm: str = "linf", steps: int = 10, step: Optional[float] = None,
        random_start: bool = False, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018): ``steps`` steps of size ``step``, each
    projected back into ``||p_adv - p|| <= eps`` (``norm`` ``"linf"`` or ``"l2"``) and [0, 1].

    L-inf steps along ``sign(g)``, L2 along ``g / ||g||_2`` (``g = dL/dp``, per image).
    ``step`` defaults to ``2.5 * eps / steps`` (Madry et al.: enough to reach the boundary of the
    ball from anywhere inside it). ``random_start=True`` starts at a random point of the ball drawn
    from ``generator`` (default: a new one seeded with 0). ``label`` / ``target`` as in ``fgsm``.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    net, p, eps = _prepare(model, p, label, target, eps, "pgd", norm)
    steps = check_count("steps", steps)
    step = 2.5 * eps / steps if step is None else _budget(step, "pgd", "step", upper=math.inf)
    generator = check_generator(generator)
    p = p.detach()
    with eval_mode(model), _gradients_on():
        direction, classes = _direction(net, p, label, target)
        adv = p.clone()
        if random_start:
            adv = _random_start(p, eps, norm, generator)
        for _ in range(steps):
            grad = loss_gradient(net, adv, classes)
            if norm == "linf":
                adv = adv + direction * step * grad.sign()
            else:
                adv = adv + direction * step * (grad / (_per_image_norm(grad) + 1e-10))
            adv = project(adv, p, eps, norm)
    return adv.detach()


class Fooled(NamedTuple):
    """What ``fooling_image`` returns: the images and, per image, the number of steps it took to
    make ``target`` the top class (``-1``: not within ``max_steps``)."""

    image: torch.Tensor
    steps: torch.Tensor


def fooling_image(model: nn.Module, p: torch.Tensor, target: Label, *, lr: float = 1.0,
                  max_steps: int = 100) -> Fooled:
    """CS231n's ``make_fooling_image`` in pixel space: gradient ascent on the target's logit,

        p <- clip_[0,1]( p + lr * g / ||g||_2 ),    g = d logit_target(p) / dp,

    until ``target`` is the top-1 class (each image stops on its own) or ``max_steps`` have run.
    ``lr`` is the L2 length of each step in pixel units.
    """
    net, p, _ = _prepare(model, p, None, None, 1.0, "fooling_image")
    if target is None:
        raise ValueError("fooling_image: give the target class (an int or a class name) to make the image into")
    lr = _budget(lr, "fooling_image", "lr", upper=math.inf)
    max_steps = check_count("max_steps", max_steps, 0)
    with eval_mode(model), _gradients_on():
        adv = p.detach().clone()
        steps = torch.full((p.shape[0],), -1, dtype=torch.long, device=p.device)
        classes = _labels(net, adv, target, "target")
        for t in range(max_steps + 1):
            leaf = adv.detach().requires_grad_(True)
            logits = _logits(net, leaf)
            _check_range(classes, logits)
            done = logits.detach().argmax(dim=1) == classes
            steps = torch.where(done & (steps < 0), torch.full_like(steps, t), steps)
            if bool((steps >= 0).all()) or t == max_steps:
                break
            (g,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), leaf)
            move = (steps < 0).to(adv.dtype).view(-1, 1, 1, 1)
            adv = (adv + move * lr * g / (_per_image_norm(g) + 1e-12)).clamp(0, 1).detach()
    return Fooled(adv.detach(), steps)
