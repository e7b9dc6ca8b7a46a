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
import numbers
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from . import methods, targets as _targets
from .data import normalize
from .hooks import check_count, check_generator, check_input, eval_mode, forward_hooks, run_model, unwrap
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
# Other activations (modules call these functions too): the ReLU rules do not say what to do at them,
# so under deconvnet / guided backprop they would silently pass the plain gradient.
_OTHER_ACTIVATIONS = {F.hardswish: "Hardswish", F.hardsigmoid: "Hardsigmoid", F.gelu: "GELU", F.silu: "SiLU",
                      F.mish: "Mish", F.leaky_relu: "LeakyReLU", F.leaky_relu_: "LeakyReLU", F.elu: "ELU",
                      F.elu_: "ELU", F.celu: "CELU", F.selu: "SELU", F.softplus: "Softplus", F.prelu: "PReLU",
                      F.rrelu: "RReLU", F.rrelu_: "RReLU"}


class _CountReluCalls(TorchFunctionMode):
    """Counts every ReLU computed during a forward pass, by a module or by a bare function call."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.others: dict[str, int] = {}   # other activation type -> how often it ran

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU_FUNCTIONS:
            self.calls += 1
        elif func in _HARDTANH_FUNCTIONS:
            low = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
            self.calls += low == 0
        elif func in _OTHER_ACTIVATIONS:
            name = _OTHER_ACTIVATIONS[func]
            self.others[name] = self.others.get(name, 0) + 1
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
def relu_rule(model: nn.Module, rule: str = "backprop", allow_mixed_rules: bool = False) -> Iterator[Callable[[], None]]:
    """Apply a ReLU backward ``rule`` to ``model`` inside a ``with`` block.

    Yields ``verify()``: call it after the forward pass; it raises a ValueError if the result
    would silently mix the rule with the plain gradient: some ReLU was computed by a bare
    function (``F.relu``, ``torch.relu``, ``x.relu()``) that no hook can reach, or the model
    computed other activations (Hardswish, Hardsigmoid, GELU, SiLU, LeakyReLU, ELU, ... -- e.g.
    MobileNetV3, EfficientNet-B0, ConvNeXt), for which the rule is not defined. With
    ``allow_mixed_rules=True`` both are accepted: the rule acts at the ReLU modules only and the
    plain gradient passes everywhere else.
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
        if allow_mixed_rules:
            return
        functional = counter.calls - check.module_calls
        if counter.others:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(counter.others.items(), key=lambda kv: -kv[1]))
            raise ValueError(f"{type(model).__name__} computed {sum(counter.others.values())} activation(s) that "
                             f"the {rule} rule does not cover ({kinds}) beside {check.module_calls} ReLU "
                             f"module call(s): the result would mix {rule} with the plain gradient through those. "
                             "Pass allow_mixed_rules=True to accept that mix (the rule at ReLUs only), or use "
                             "saliency / integrated_gradients, which need no rule.")
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
                    rule: str = "backprop", allow_mixed_rules: bool = False) -> torch.Tensor:
    """``d sum_n score_n / d x`` under a ReLU ``rule``, leaving the model untouched (also inside
    ``torch.no_grad()`` or ``torch.inference_mode()``: gradients are switched on for the call)."""
    model = unwrap(model)
    x = check_input(x, model)
    with eval_mode(model), torch.inference_mode(False), torch.enable_grad():
        xin = x.detach().requires_grad_(True)
        with relu_rule(model, rule, allow_mixed_rules) as verify:
            s = score(model, xin)
            verify()
        (grad,) = torch.autograd.grad(s.sum(), xin)
    return grad


def _class_score(target: Target):
    def score(model, x):
        return _targets.scores(_targets.resolve(target, model), run_model(model, x))
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


def deconvnet(model: nn.Module, x: torch.Tensor, target: Target = None, *,
              allow_mixed_rules: bool = False) -> torch.Tensor:
    """Deconvnet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV
    2014) as a backward pass: at every ReLU pass ``max(g, 0)``, ignoring the forward mask; max-pool
    switches and transposed convolutions are what backprop already does.

    Defined for ReLU networks: a model with other activations (Hardswish, GELU, SiLU, ...) raises
    a ValueError naming them, unless ``allow_mixed_rules=True`` (see ``relu_rule``)."""
    return _input_gradient(model, x, _class_score(target), rule="deconvnet", allow_mixed_rules=allow_mixed_rules)


def guided_backprop(model: nn.Module, x: torch.Tensor, target: Target = None, *,
                    allow_mixed_rules: bool = False) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al., "Striving for Simplicity: The All
    Convolutional Net", ICLR workshop 2015): at every ReLU pass ``max(g, 0) * [x > 0]`` --
    positive input *and* positive gradient.

    Defined for ReLU networks: a model with other activations (Hardswish, GELU, SiLU, ...) raises
    a ValueError naming them, unless ``allow_mixed_rules=True`` (see ``relu_rule``)."""
    return _input_gradient(model, x, _class_score(target), rule="guided", allow_mixed_rules=allow_mixed_rules)


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
        if not isinstance(a, torch.Tensor) or a.ndim < 2:
            got = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
            raise ValueError(f"layer {layer!r} outputs {got}; a channel score needs an output [N, C, ...]")
        if not 0 <= channel < a.shape[1]:
            raise ValueError(f"channel {channel} is outside 0..{a.shape[1] - 1} (layer {layer!r} has "
                             f"{a.shape[1]} channels)")
        c = a[:, channel].reshape(a.shape[0], -1)
        if position is None:
            return c.sum(1)
        if isinstance(position, str) and position == "max":
            return c.max(1).values
        if isinstance(position, (tuple, list)) and len(position) == 2:
            if a.ndim != 4:
                raise ValueError(f"position (h, w) needs a layer with a spatial output [N, C, H, W]; layer "
                                 f"{layer!r} outputs {tuple(a.shape)} -- use position=None or 'max'")
            h, w = position
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w)):
                raise ValueError(f"position must be two ints (h, w), got {position!r}")
            if not (0 <= h < a.shape[2] and 0 <= w < a.shape[3]):
                raise ValueError(f"position {tuple(position)} is outside layer {layer!r}'s map of "
                                 f"{a.shape[2]} x {a.shape[3]}: h must be in 0..{a.shape[2] - 1} and w in "
                                 f"0..{a.shape[3] - 1}")
            return a[:, channel, h, w]
        raise ValueError(f"position must be None, 'max' or (h, w), not {position!r}")
    return score


def neuron_gradient(model: nn.Module, x: torch.Tensor, layer: Union[str, nn.Module], channel: int,
                    rule: str = "backprop", position: Union[None, str, tuple] = None, *,
                    allow_mixed_rules: bool = False) -> torch.Tensor:
    """Gradient of one channel of an intermediate layer with respect to the input, under a ReLU
    ``rule`` ("backprop", "deconvnet" or "guided").

    ``position=None`` explains the channel's sum; ``"max"`` its strongest activation in each image
    (Zeiler & Fergus project exactly this one unit back to pixels); ``(h, w)`` one unit. The
    forward pass stops at ``layer``. ``allow_mixed_rules``: see ``relu_rule``.
    """
    return _input_gradient(model, x, layer_output_score(layer, channel, position), rule=rule,
                           allow_mixed_rules=allow_mixed_rules)


# --------------------------------------------------------------------------------------------
# SmoothGrad
# --------------------------------------------------------------------------------------------

SMOOTHGRAD_KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _per_image(target: Target, model: nn.Module, x: torch.Tensor) -> Target:
    """``target`` frozen at the clean images (``vizlab.targets.freeze``): the predicted class of each costs one
    forward pass, a given class none."""
    def clean_logits():
        with torch.no_grad(), eval_mode(model):
            return run_model(model, x)
    return _targets.freeze(target, model, x.shape[0], clean_logits)


def _repeat_target(target: Target, rows: Sequence[int]) -> Target:
    """The target for a chunk whose row ``r`` holds image ``rows[r]``."""
    if isinstance(target, torch.Tensor):
        return target[list(rows)]
    return target


def _attribution_method(method) -> Callable:
    """An attribution function, also given by its name (``"saliency"``)."""
    if isinstance(method, str):
        return methods.function(method, methods.names(kind="attribution", module="attribution"),
                                "attribution method")
    if not callable(method):
        raise TypeError(f"method must be an attribution function such as vizlab.saliency, got {type(method).__name__}")
    return method


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} is a fraction of the input range: a finite number >= 0, got {value!r}")
    return float(value)


def noisy_attributions(method: Callable, model: nn.Module, x: torch.Tensor, target: Target = None, /,
                       samples: int = 50, noise: float = 0.15, batch_size: int = 8,
                       generator: Optional[torch.Generator] = None, *, method_options: Optional[dict] = None,
                       **options) -> Iterator[tuple]:
    """Yield ``(sample, image, attribution [C, H, W])`` for ``method`` on noisy copies of ``x``,
    sample after sample: ``x_n + e`` with ``e ~ N(0, sigma_n^2)``, ``sigma_n = noise * (max x_n -
    min x_n)``. The noise of sample ``s`` is drawn for all images at once, in order, from
    ``generator`` -- so the draws do not depend on ``batch_size``, which bounds how many noisy
    images run through the model at once. (``smoothgrad`` averages these; an explorer keeps them.)
    ``options`` and ``method_options`` go to ``method`` (see ``smoothgrad``).
    """
    method = _attribution_method(method)
    model = unwrap(model)
    x = check_input(x, model)
    samples, batch_size = check_count("samples", samples), check_count("batch_size", batch_size)
    noise = _check_fraction("noise", noise)
    options = {**options, **(method_options or {})}
    x = x.detach()
    n = x.shape[0]
    target = _per_image(target, model, x)
    sigma = noise * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    rows = [(s, i) for s in range(samples) for i in range(n)]   # sample-major, like the noise
    noisy: dict[int, torch.Tensor] = {}                         # sample -> noisy copies of all images
    drawn = 0
    generator = check_generator(generator)                     # None: seed 0, never the global RNG
    where = generator.device
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        while drawn <= chunk[-1][0]:                            # draw whole samples, in order
            e = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=where).to(x.device)
            noisy[drawn] = x + e * sigma.view(-1, 1, 1, 1)
            drawn += 1
        batch = torch.stack([noisy[s][i] for s, i in chunk])
        a = method(model, batch, _repeat_target(target, [i for _, i in chunk]), **options)
        for (s, i), ai in zip(chunk, a):
            yield s, i, ai
        for s in [s for s in noisy if s < chunk[-1][0]]:         # keep memory bounded
            del noisy[s]


def smoothgrad(method: Callable, model: nn.Module, x: torch.Tensor, target: Target = None, /,
               samples: int = 50, noise: float = 0.15, kind: str = "smoothgrad", batch_size: int = 8,
               generator: Optional[torch.Generator] = None, *, method_options: Optional[dict] = None,
               **options) -> torch.Tensor:
    """Average an attribution over noisy copies of the input (Smilkov et al., "SmoothGrad:
    removing noise by adding noise", 2017)::

        smoothgrad    = 1/n sum_i  A(x + e_i)            e_i ~ N(0, sigma^2),
        smoothgrad_sq = 1/n sum_i  A(x + e_i)^2          sigma = noise * (max x - min x)
        vargrad       = smoothgrad_sq - smoothgrad^2      (Adebayo et al. 2018)

    ``method`` is any attribution function of this module (``saliency``, ``guided_backprop``,
    ...; or its name) and the other keyword ``options`` go to it -- also one called ``method``:
    ``smoothgrad(integrated_gradients, model, x, 0, method="left", steps=16)``. ``samples``,
    ``noise``, ``kind``, ``batch_size`` and ``generator`` are SmoothGrad's own (the noise and how
    many noisy images run at once); to give the wrapped method an option of the same name, put it
    in ``method_options``: ``method_options={"batch_size": 4}``. Pass a ``generator`` for
    reproducible noise; the result does not depend on ``batch_size`` (see ``noisy_attributions``).
    """
    if kind not in SMOOTHGRAD_KINDS:
        raise ValueError(f"kind must be one of {SMOOTHGRAD_KINDS}, not {kind!r}")
    x = check_input(x, unwrap(model))
    total = torch.zeros_like(x.detach())
    total_sq = torch.zeros_like(total)
    for _, i, a in noisy_attributions(method, model, x, target, samples, noise, batch_size, generator,
                                      method_options=method_options, **options):
        total[i] += a
        total_sq[i] += a * a
    return combine_samples(total / samples, total_sq / samples, kind)


def smoothgrad_saliency(model: nn.Module, x: torch.Tensor, target: Target = None, *,
                        generator: Optional[torch.Generator] = None, **options) -> torch.Tensor:
    """SmoothGrad of the vanilla gradient, ``smoothgrad(saliency, model, x, target, ...)``: the method
    Smilkov et al. (2017) show first, and the one called ``"smoothgrad"`` where vizlab offers methods
    by name (``vizlab.methods``, ``vizlab.evaluate.explain``)."""
    return smoothgrad(saliency, model, x, target, generator=generator, **options)


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
    steps = check_count("steps", steps, minimum)
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
    """The reference input ``x'`` of Integrated Gradients, shaped like ``x`` (in model input space,
    on its device and with its dtype).

    ``"black"``: a black photo (pixel 0, normalised with the model's mean/std); ``"blur"``: ``x``
    under a Gaussian blur of ``blur_sigma`` pixels (Sturmfels et al., Distill 2020); ``"noise"``:
    uniform noise in pixel space; a number, tensor or numpy array: used as is (broadcast to ``x``).
    """
    if isinstance(baseline, np.ndarray):
        baseline = torch.from_numpy(baseline)
    if isinstance(baseline, torch.Tensor):
        b = baseline.detach().to(device=x.device, dtype=x.dtype)
        try:
            b = b.expand_as(x).clone()
        except RuntimeError:
            raise ValueError(f"a baseline tensor must broadcast to the input {tuple(x.shape)}, "
                             f"got {tuple(b.shape)}") from None
        if b.device.type != "meta" and not torch.isfinite(b).all():
            raise ValueError("the baseline holds NaN or infinite values; pass a finite tensor (or 'black')")
        return b
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        if not math.isfinite(baseline):
            raise ValueError(f"the baseline must be finite, got {baseline}")
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, str):
        raise ValueError(f"baseline must be 'black', 'blur', 'noise', a number or a tensor, not {type(baseline).__name__}")
    meta = info(model)
    c = x.shape[1]
    if baseline in ("black", "noise") and len(meta.mean) != c:
        raise ValueError(f"baseline={baseline!r} needs the model's normalisation for {c} channel(s), but "
                         f"vizlab.info(model) has {len(meta.mean)} (mean {meta.mean}); pass the baseline "
                         "yourself: a number (e.g. baseline=0.0) or a tensor in the model's input space")
    if baseline == "black":
        return normalize(torch.zeros_like(x), model)
    if baseline == "noise":
        generator = check_generator(generator)                 # None: seed 0, never the global RNG
        pixels = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=generator.device).to(x.device)
        return normalize(pixels, model)
    if baseline == "blur":
        if isinstance(blur_sigma, bool) or not isinstance(blur_sigma, numbers.Real) or not blur_sigma > 0 \
                or not math.isfinite(blur_sigma):
            raise ValueError(f"blur_sigma must be a finite number of pixels > 0, got {blur_sigma!r}")
        radius = int(math.ceil(3 * blur_sigma))
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-0.5 * (t / blur_sigma) ** 2)
        k = k / k.sum()
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
    model = unwrap(model)
    x = check_input(x, model)
    batch_size = check_count("batch_size", batch_size)
    alphas, weights = quadrature(method, steps)
    x = x.detach()
    n = x.shape[0]
    base = baseline_for(model, x, baseline, generator)
    diff = x - base
    target = _per_image(target, model, x)
    points = [(k, i) for k in range(len(alphas)) for i in range(n)]
    total = torch.zeros_like(x)
    alphas_t = torch.tensor(alphas, dtype=x.dtype, device=x.device)
    weights_t = torch.tensor(weights, dtype=x.dtype, device=x.device)
    for start in range(0, len(points), batch_size):
        chunk = points[start:start + batch_size]
        rows = [i for _, i in chunk]
        ks = torch.tensor([k for k, _ in chunk], device=x.device)
        ims = torch.tensor(rows, device=x.device)
        a = alphas_t[ks].view(-1, 1, 1, 1)
        path = base[ims] + a * diff[ims]
        grads = _input_gradient(model, path, _class_score(_repeat_target(target, rows)))
        w = weights_t[ks].view(-1, 1, 1, 1)
        total.index_add_(0, ims, w * grads)
    attributions = diff * total
    if not return_delta:
        return attributions
    with torch.no_grad(), eval_mode(model):
        ends = _targets.scores(_repeat_target(target, list(range(n)) * 2), run_model(model, torch.cat([x, base])))
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
           "smoothgrad_saliency", "noisy_attributions", "combine_samples",
           "integrated_gradients", "quadrature", "baseline_for", "relu_rule", "rectifiers",
           "layer_output_score", "abs_max", "channel_max", "signed_sum", "rgb", "clip_percentile", "REDUCTIONS", "RULES",
           "IG_METHODS", "SMOOTHGRAD_KINDS"]
