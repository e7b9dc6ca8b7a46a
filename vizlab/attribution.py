"""Gradient attributions: which input pixels move a score, and how the backward rule through ReLU
changes the picture.

One call shape for every method: ``f(model, x, target=None, **options) -> Tensor`` shaped like
``x``. ``target`` is what to explain (``vizlab.targets``): ``None`` for the predicted class of
each image, an ``int``, a list of ints (one per image) or a callable ``logits -> Tensor[N]``.
The attributions are raw (signed, per colour channel); the display reductions at the bottom of
this file (``abs_max``, ``channel_max``, ``signed_sum``, ``rgb``) turn them into pictures.

Three backward rules through a rectifier ``y = relu(x)`` (also ``relu6``), with ``g = dS/dy``:

=============  ==============================  =============================================
rule           gradient passed to ``x``          paper
=============  ==============================  =============================================
backprop       ``g * [x > 0]``                   the true gradient (Simonyan et al. 2014)
deconvnet      ``max(g, 0)``                     Zeiler & Fergus 2014
guided         ``max(g, 0) * [x > 0]``           Springenberg et al. 2015
=============  ==============================  =============================================

(for ReLU6 the forward mask is ``[0 < x < 6]``). The rules are applied with forward hooks that
attach a *tensor* hook to each ReLU/ReLU6 module's output -- registered through
``vizlab.hooks.forward_hooks`` and removed in ``finally``. Gradients come from
``torch.autograd.grad`` with respect to a detached copy of ``x``, so no parameter ``.grad``
appears and the model is left exactly as it was. Like ``vizlab.capture``, every call runs the model
in eval mode (dropout off, batch norm on running statistics) and restores its flags afterwards.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from . import targets as _targets
from .hooks import check_input, eval_mode, forward_hooks
from .models import find_layer, info

Target = _targets.Target
RULES = ("backprop", "deconvnet", "guided")


# --------------------------------------------------------------------------------------------
# The ReLU backward rules
# --------------------------------------------------------------------------------------------

def rectifiers(model: nn.Module) -> list[nn.Module]:
    """The modules whose backward rule deconvnet / guided backprop change: ``nn.ReLU`` and
    ``nn.ReLU6`` (any ``nn.Hardtanh`` that clips at 0 from below)."""
    return [m for m in model.modules() if _is_rectifier(m)]


def _is_rectifier(m: nn.Module) -> bool:
    return isinstance(m, nn.ReLU) or (isinstance(m, nn.Hardtanh) and m.min_val == 0)


def _guided_hook(module, inputs, output):
    """``max(g, 0)`` on the output's gradient; the ReLU's own backward then applies ``[x > 0]``."""
    output.register_hook(lambda g: g.clamp(min=0))


def _deconvnet_hook(module, inputs, output):
    """Same values as ``relu(x)``, but the backward pass skips the ReLU's mask: ``max(g, 0)``."""
    (pre,) = inputs
    out = output.detach() + (pre - pre.detach())  # + exactly 0: values of relu(x), gradient of identity
    out.register_hook(lambda g: g.clamp(min=0))
    return out


_RULE_HOOKS = {"deconvnet": _deconvnet_hook, "guided": _guided_hook}

# Functions that compute a ReLU; called by nn.ReLU / nn.ReLU6 -- or directly by a model's forward.
_RELU_FUNCTIONS = {F.relu, F.relu_, F.relu6, torch.relu, torch.relu_,
                   torch._C.TensorBase.relu, torch._C.TensorBase.relu_}
_HARDTANH_FUNCTIONS = {F.hardtanh, F.hardtanh_}


class _CountReluCalls(TorchFunctionMode):
    """Counts every ReLU computed during a forward pass, by a module or by a bare function call."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU_FUNCTIONS:
            self.calls += 1
        elif func in _HARDTANH_FUNCTIONS:
            low = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
            self.calls += low == 0
        return func(*args, **kwargs)


@contextlib.contextmanager
def _not_inplace(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Run in-place ReLUs out of place for a while (deconvnet needs the ReLU's input intact)."""
    flipped = [m for m in modules if getattr(m, "inplace", False)]
    try:
        for m in flipped:
            m.inplace = False
        yield
    finally:
        for m in flipped:
            m.inplace = True


class _RuleCheck:
    """Counts the rectifier modules that ran with the rule, to compare with all ReLUs computed."""

    def __init__(self, rule: str):
        self.rule, self.module_calls = rule, 0

    def hook(self, module, inputs, output):
        self.module_calls += 1
        return _RULE_HOOKS[self.rule](module, inputs, output)


@contextlib.contextmanager
def relu_rule(model: nn.Module, rule: str = "backprop") -> Iterator[Callable[[], None]]:
    """Apply a ReLU backward ``rule`` to ``model`` inside a ``with`` block.

    Yields ``verify()``: call it after the forward pass; it raises a ValueError if some ReLU was
    computed by a bare function (``F.relu``, ``torch.relu``, ``x.relu()``) that no hook can reach
    -- those would silently keep the plain gradient.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    if rule == "backprop":
        yield lambda: None
        return
    mods = rectifiers(model)
    if not mods:
        raise ValueError(f"{type(model).__name__} has no nn.ReLU / nn.ReLU6 modules, so the {rule} rule has "
                         "nothing to change; if its forward calls F.relu, replace that by an nn.ReLU module "
                         "(one per use) -- or use saliency, which needs no rule")
    check, counter = _RuleCheck(rule), _CountReluCalls()

    def verify():
        functional = counter.calls - check.module_calls
        if functional > 0:
            raise ValueError(f"{type(model).__name__} computed {functional} ReLU(s) with a bare function "
                             "(F.relu / torch.relu / x.relu()) that the {0} rule cannot reach: the result would "
                             "mix {0} with the plain gradient. Use one nn.ReLU module per use in the model's "
                             "forward.".format(rule))

    with _not_inplace(mods), forward_hooks((m, check.hook) for m in mods), counter:
        yield verify


# --------------------------------------------------------------------------------------------
# Input gradients
# --------------------------------------------------------------------------------------------

def _input_gradient(model: nn.Module, x: torch.Tensor, score: Callable[[nn.Module, torch.Tensor], torch.Tensor],
                    rule: str = "backprop") -> torch.Tensor:
    """``d sum_n score_n / d x`` under a ReLU ``rule``, leaving the model untouched."""
    check_input(x)
    xin = x.detach().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        with relu_rule(model, rule) as verify:
            s = score(model, xin)
            verify()
        (grad,) = torch.autograd.grad(s.sum(), xin)
    return grad


def _class_score(target: Target):
    def score(model, x):
        return _targets.scores(target, _logits(model(x)))
    return score


def _logits(out) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}; vizlab needs a model whose forward "
                        "returns a logits tensor [N, classes]")
    return out


def saliency(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Vanilla gradient ``dS_c / dx`` (Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional
    Networks", ICLR workshop 2014). Signed and per channel; ``abs_max`` gives the paper's map
    ``M_ij = max_c |w_{ijc}|``."""
    return _input_gradient(model, x, _class_score(target))


def grad_x_input(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Gradient times input ``x * dS_c / dx`` (Shrikumar et al. 2016; for a piecewise-linear
    net without biases it sums to the score)."""
    return x.detach() * saliency(model, x, target)


def deconvnet(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Deconvnet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV
    2014) as a backward pass: at every ReLU pass ``max(g, 0)``, ignoring the forward mask; max-pool
    switches and transposed convolutions are what backprop already does."""
    return _input_gradient(model, x, _class_score(target), rule="deconvnet")


def guided_backprop(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al., "Striving for Simplicity: The All
    Convolutional Net", ICLR workshop 2015): at every ReLU pass ``max(g, 0) * [x > 0]`` --
    positive input *and* positive gradient."""
    return _input_gradient(model, x, _class_score(target), rule="guided")


class _StopForward(Exception):
    """Raised by a hook once the layer we need has run: the rest of the network is not needed."""


def layer_output_score(layer: Union[str, nn.Module], channel: int,
                       position: Union[None, str, tuple] = None) -> Callable:
    """A score from an intermediate layer: channel ``channel`` summed over positions
    (``position=None``), at its strongest unit per image (``"max"``), or at unit ``(h, w)``."""
    def score(model, x):
        module = find_layer(model, layer)
        store = []

        def grab(mod, inputs, output):
            store.append(output)
            raise _StopForward

        with forward_hooks([(module, grab)]):
            try:
                model(x)
            except _StopForward:
                pass
        if not store:
            raise ValueError(f"layer {layer!r} was not called in the forward pass")
        a = store[0]
        if not 0 <= channel < a.shape[1]:
            raise ValueError(f"channel {channel} is outside 0..{a.shape[1] - 1} (layer {layer!r} has "
                             f"{a.shape[1]} channels)")
        c = a[:, channel].reshape(a.shape[0], -1)
        if position is None:
            return c.sum(1)
        if position == "max":
            return c.max(1).values
        if isinstance(position, tuple) and len(position) == 2 and a.ndim == 4:
            return a[:, channel, position[0], position[1]]
        raise ValueError(f"position must be None, 'max' or (h, w), not {position!r}")
    return score


def neuron_gradient(model: nn.Module, x: torch.Tensor, layer: Union[str, nn.Module], channel: int,
                    rule: str = "backprop", position: Union[None, str, tuple] = None) -> torch.Tensor:
    """Gradient of one channel of an intermediate layer with respect to the input, under a ReLU
    ``rule`` ("backprop", "deconvnet" or "guided").

    ``position=None`` explains the channel's sum; ``"max"`` its strongest activation in each image
    (Zeiler & Fergus project exactly this one unit back to pixels); ``(h, w)`` one unit. The
    forward pass stops at ``layer``.
    """
    return _input_gradient(model, x, layer_output_score(layer, channel, position), rule=rule)


# --------------------------------------------------------------------------------------------
# SmoothGrad
# --------------------------------------------------------------------------------------------

SMOOTHGRAD_KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _per_image(target: Target, model: nn.Module, x: torch.Tensor) -> Target:
    """Resolve ``target=None`` to the predicted class of the clean images (one forward pass)."""
    if target is None:
        with torch.no_grad(), eval_mode(model):
            return _targets.class_indices(None, _logits(model(x))).tolist()
    if callable(target) or isinstance(target, int):
        return target
    idx = torch.as_tensor(target).reshape(-1).long()
    return idx.expand(x.shape[0]).tolist() if idx.numel() == 1 else idx.tolist()


def _repeat_target(target: Target, rows: Sequence[int]) -> Target:
    """The target for a chunk whose row ``r`` holds image ``rows[r]``."""
    if isinstance(target, list):
        return [target[i] for i in rows]
    return target


def noisy_attributions(method: Callable, model: nn.Module, x: torch.Tensor, target: Target = None,
                       samples: int = 50, noise: float = 0.15, batch_size: int = 8,
                       generator: Optional[torch.Generator] = None, **options) -> Iterator[tuple]:
    """Yield ``(sample, image, attribution [C, H, W])`` for ``method`` on noisy copies of ``x``,
    sample after sample: ``x_n + e`` with ``e ~ N(0, sigma_n^2)``, ``sigma_n = noise * (max x_n -
    min x_n)``. The noise of sample ``s`` is drawn for all images at once, in order, from
    ``generator`` -- so the draws do not depend on ``batch_size``, which bounds how many noisy
    images run through the model at once. (``smoothgrad`` averages these; an explorer keeps them.)
    """
    check_input(x)
    if samples < 1 or batch_size < 1:
        raise ValueError("samples and batch_size must be at least 1")
    if noise < 0:
        raise ValueError(f"noise is a fraction of the input range and must be >= 0, got {noise}")
    x = x.detach()
    n = x.shape[0]
    target = _per_image(target, model, x)
    sigma = noise * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    rows = [(s, i) for s in range(samples) for i in range(n)]   # sample-major, like the noise
    noisy: dict[int, torch.Tensor] = {}                         # sample -> noisy copies of all images
    drawn = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        while drawn <= chunk[-1][0]:                            # draw whole samples, in order
            noisy[drawn] = x + torch.randn(x.shape, generator=generator, dtype=x.dtype) * sigma.view(-1, 1, 1, 1)
            drawn += 1
        batch = torch.stack([noisy[s][i] for s, i in chunk])
        a = method(model, batch, _repeat_target(target, [i for _, i in chunk]), **options)
        for (s, i), ai in zip(chunk, a):
            yield s, i, ai
        for s in [s for s in noisy if s < chunk[-1][0]]:         # keep memory bounded
            del noisy[s]


def smoothgrad(method: Callable, model: nn.Module, x: torch.Tensor, target: Target = None,
               samples: int = 50, noise: float = 0.15, kind: str = "smoothgrad", batch_size: int = 8,
               generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """Average an attribution over noisy copies of the input (Smilkov et al., "SmoothGrad:
    removing noise by adding noise", 2017)::

        smoothgrad    = 1/n sum_i  A(x + e_i)            e_i ~ N(0, sigma^2),
        smoothgrad_sq = 1/n sum_i  A(x + e_i)^2          sigma = noise * (max x - min x)
        vargrad       = smoothgrad_sq - smoothgrad^2      (Adebayo et al. 2018)

    ``method`` is any attribution function of this module (``saliency``, ``guided_backprop``,
    ...) and ``options`` go to it. Pass a ``generator`` for reproducible noise; the result does
    not depend on ``batch_size`` (see ``noisy_attributions``).
    """
    if kind not in SMOOTHGRAD_KINDS:
        raise ValueError(f"kind must be one of {SMOOTHGRAD_KINDS}, not {kind!r}")
    check_input(x)
    total = torch.zeros_like(x.detach())
    total_sq = torch.zeros_like(total)
    for _, i, a in noisy_attributions(method, model, x, target, samples, noise, batch_size, generator, **options):
        total[i] += a
        total_sq[i] += a * a
    return combine_samples(total / samples, total_sq / samples, kind)


def combine_samples(mean: torch.Tensor, mean_sq: torch.Tensor, kind: str) -> torch.Tensor:
    """SmoothGrad's three read-outs from the mean and the mean square of the samples."""
    if kind == "smoothgrad":
        return mean
    if kind == "smoothgrad_sq":
        return mean_sq
    if kind == "vargrad":
        return mean_sq - mean * mean
    raise ValueError(f"kind must be one of {SMOOTHGRAD_KINDS}, not {kind!r}")


# --------------------------------------------------------------------------------------------
# Integrated Gradients
# --------------------------------------------------------------------------------------------

IG_METHODS = ("gausslegendre", "left", "right", "middle", "trapezoid")
_CAPTUM_NAMES = {"riemann_left": "left", "riemann_right": "right", "riemann_middle": "middle"}


def quadrature(method: str, steps: int) -> tuple[list[float], list[float]]:
    """Points ``alpha_k`` in [0, 1] and weights ``w_k`` with ``int_0^1 f ~ sum_k w_k f(alpha_k)``.

    ``gausslegendre`` is exact for polynomials of degree < 2 * steps (error falls fast for a
    smooth integrand); the Riemann rules ``left``/``right`` converge as 1/steps, ``middle`` and
    ``trapezoid`` (weights 1/(steps-1), halved at the ends) as 1/steps^2.
    """
    method = _CAPTUM_NAMES.get(method, method)
    if method == "riemann_trapezoid":
        raise ValueError("use method='trapezoid': Captum's 'riemann_trapezoid' puts steps points on [0, 1] "
                         "but weights them 1/steps (they sum to 1 - 1/steps), so its error falls only as "
                         "1/steps; vizlab's 'trapezoid' uses the textbook weights 1/(steps - 1)")
    if method not in IG_METHODS:
        raise ValueError(f"method must be one of {IG_METHODS}, not {method!r}")
    minimum = 2 if method == "trapezoid" else 1
    if steps < minimum:
        raise ValueError(f"steps must be at least {minimum} for method {method!r}, got {steps}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (0.5 * (1 + nodes)).tolist(), (0.5 * weights).tolist()
    if method == "trapezoid":
        alphas = torch.linspace(0, 1, steps).tolist()
        w = [1 / (steps - 1)] * steps
        w[0] /= 2
        w[-1] /= 2
        return alphas, w
    first = {"left": 0.0, "middle": 0.5 / steps, "right": 1 / steps}[method]
    last = {"left": 1 - 1 / steps, "middle": 1 - 0.5 / steps, "right": 1.0}[method]
    return torch.linspace(first, last, steps).tolist(), [1 / steps] * steps


def baseline_for(model: nn.Module, x: torch.Tensor, baseline: Union[str, float, torch.Tensor] = "black",
                 generator: Optional[torch.Generator] = None, blur_sigma: float = 10.0) -> torch.Tensor:
    """The reference input ``x'`` of Integrated Gradients, shaped like ``x`` (in model input space).

    ``"black"``: a black photo (pixel 0, normalised with the model's mean/std); ``"blur"``: ``x``
    under a Gaussian blur of ``blur_sigma`` pixels (Sturmfels et al., Distill 2020); ``"noise"``:
    uniform noise in pixel space; a number or tensor: used as is (broadcast to ``x``).
    """
    if isinstance(baseline, torch.Tensor):
        b = baseline.detach().to(x.dtype)
        try:
            return b.expand_as(x).clone()
        except RuntimeError:
            raise ValueError(f"a baseline tensor must broadcast to the input {tuple(x.shape)}, "
                             f"got {tuple(b.shape)}") from None
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    meta = info(model)
    mean = torch.tensor(meta.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=x.dtype).view(1, -1, 1, 1)
    if baseline == "black":
        return ((0 - mean) / std).expand_as(x).clone()
    if baseline == "noise":
        pixels = torch.rand(x.shape, generator=generator, dtype=x.dtype)
        return (pixels - mean) / std
    if baseline == "blur":
        radius = int(math.ceil(3 * blur_sigma))
        t = torch.arange(-radius, radius + 1, dtype=x.dtype)
        k = torch.exp(-0.5 * (t / blur_sigma) ** 2)
        k = k / k.sum()
        c = x.shape[1]
        padded = F.pad(x.detach(), (radius, radius, radius, radius), mode="replicate")
        rows = F.conv2d(padded, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        return F.conv2d(rows, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    raise ValueError(f"baseline must be 'black', 'blur', 'noise', a number or a tensor, not {baseline!r}")


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: Target = None,
                         baseline: Union[str, float, torch.Tensor] = "black", steps: int = 50,
                         method: str = "gausslegendre", batch_size: int = 8, return_delta: bool = False,
                         generator: Optional[torch.Generator] = None):
    """Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep
    Networks", ICML 2017)::

        IG(x) = (x - x') * int_0^1 dS(x' + a (x - x')) / dx  da  ~  (x - x') * sum_k w_k grad_k

    with the points ``a_k`` and weights ``w_k`` of ``quadrature(method, steps)``. Completeness:
    ``sum IG = S(x) - S(x')`` up to the quadrature error, which ``return_delta=True`` returns as
    a second tensor ``[N]`` (``sum IG - (S(x) - S(x'))``). The ``steps * N`` path points run in
    chunks of ``batch_size``; the result does not depend on it.
    """
    check_input(x)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    alphas, weights = quadrature(method, steps)
    x = x.detach()
    n = x.shape[0]
    base = baseline_for(model, x, baseline, generator)
    diff = x - base
    target = _per_image(target, model, x)
    points = [(k, i) for k in range(len(alphas)) for i in range(n)]
    total = torch.zeros_like(x)
    for start in range(0, len(points), batch_size):
        chunk = points[start:start + batch_size]
        ks = torch.tensor([k for k, _ in chunk])
        ims = torch.tensor([i for _, i in chunk])
        a = torch.tensor(alphas, dtype=x.dtype)[ks].view(-1, 1, 1, 1)
        path = base[ims] + a * diff[ims]
        grads = _input_gradient(model, path, _class_score(_repeat_target(target, ims.tolist())))
        w = torch.tensor(weights, dtype=x.dtype)[ks].view(-1, 1, 1, 1)
        total.index_add_(0, ims, w * grads)
    attributions = diff * total
    if not return_delta:
        return attributions
    with torch.no_grad(), eval_mode(model):
        ends = _targets.scores(_repeat_target(target, list(range(n)) * 2), _logits(model(torch.cat([x, base]))))
    delta = attributions.sum(dim=(1, 2, 3)) - (ends[:n] - ends[n:])
    return attributions, delta


# --------------------------------------------------------------------------------------------
# Display reductions (attributions stay raw; these make pictures of them)
# --------------------------------------------------------------------------------------------

def abs_max(a: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W] -> [N, H, W]``: ``max_c |a_c|`` (Simonyan et al.'s saliency map)."""
    return a.detach().abs().amax(dim=1)


def channel_max(a: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W] -> [N, H, W]``: ``max_c a_c`` (positive evidence only)."""
    return a.detach().amax(dim=1)


def signed_sum(a: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W] -> [N, H, W]``: ``sum_c a_c``, keeping the sign (draw with a diverging map)."""
    return a.detach().sum(dim=1)


def rgb(a: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """``[N, 3, H, W] -> [N, H, W, 3]`` in [0, 1] for showing an attribution as a colour image (as
    the guided-backprop papers do): grey is 0, each image scaled by its ``percentile`` of |a|."""
    a = a.detach()
    scale = torch.quantile(a.abs().flatten(1), percentile / 100, dim=1).clamp(min=1e-12)
    return (0.5 + 0.5 * a / scale.view(-1, 1, 1, 1)).clamp(0, 1).permute(0, 2, 3, 1)


def clip_percentile(m: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Clamp a map ``[N, H, W]`` (or ``[H, W]``) to +-its ``percentile`` of ``|m|``, per image, so that
    a handful of extreme pixels does not turn the rest of the picture black."""
    m = m.detach()
    flat = m.abs().reshape(m.shape[0], -1) if m.ndim == 3 else m.abs().reshape(1, -1)
    bound = torch.quantile(flat, percentile / 100, dim=1)
    bound = bound.view(-1, 1, 1) if m.ndim == 3 else bound[0]
    return torch.maximum(torch.minimum(m, bound), -bound)


REDUCTIONS = {"abs_max": abs_max, "channel_max": channel_max, "signed_sum": signed_sum}


__all__ = ["saliency", "grad_x_input", "deconvnet", "guided_backprop", "neuron_gradient", "smoothgrad",
           "noisy_attributions", "combine_samples",
           "integrated_gradients", "quadrature", "baseline_for", "relu_rule", "rectifiers",
           "layer_output_score", "abs_max", "channel_max", "signed_sum", "rgb", "clip_percentile", "REDUCTIONS", "RULES",
           "IG_METHODS", "SMOOTHGRAD_KINDS"]
