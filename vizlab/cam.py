"""Class activation maps: "which part of the photo made the network say *cat*?"

Every method here is the same four steps, done by one core (``_class_map``):

1. run the model once and keep the output ``A`` of one convolutional layer (``[N, K, h, w]``),
   plus the gradient ``G = dS/dA`` of the explained score ``S`` when the method needs it;
2. **weights**: one number per channel ``w[n, k]`` (or one per channel *and* position);
3. ``map = ReLU(sum_k w_k * A_k)`` -- keep what speaks *for* the class;
4. upsample the coarse ``h x w`` map bilinearly to the input's ``H x W``.

Only step 2 differs between methods, so each method below is a few lines a student can read:

================== ============================================================ ==================
method              channel weight ``w_k`` (per image)                           paper
================== ============================================================ ==================
``cam``             ``classifier.weight[c, k]``                                  Zhou et al. 2016
``grad_cam``        ``G_k.mean()``  -- the average gradient                      Selvaraju et al. 2017
``grad_cam_pp``     ``sum_ij alpha_kij * relu(G_kij)``                           Chattopadhay et al. 2018
``smooth_grad_cam_pp`` the same with G, G^2, G^3 averaged over noisy copies      Omeiza et al. 2019
``score_cam``       softmax over k of the score of ``x * upsampled(A_k)``        Wang et al. 2020
``layer_cam``       ``relu(G_kij)`` -- one weight per position                   Jiang et al. 2021
================== ============================================================ ==================

Every function has the call shape ``(model, x, target=None, layer=None, **options) ->
Tensor[N, H, W]``. ``target`` is what ``vizlab.targets`` accepts (None = predicted class, an
int, one int per image, or a callable ``logits -> [N]``); ``layer=None`` is
``vizlab.default_cam_layer(model)``; a list of layers fuses their maps. The model is explained
in inference mode (``eval()`` for the duration of the call, then its flags are restored) and
is left exactly as it was found: no hooks, no ``.grad``, same weights -- also after an error.

Common options: ``relu=True`` (step 3), ``upsample=True`` (step 4; ``False`` returns the
``h x w`` map), ``normalize=False`` (``True``: min-max each map to [0, 1]; a map that is all
zeros stays all zeros, never NaN), ``fuse="mean"`` or ``"max"`` for several layers.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from . import methods, targets as _targets
from .attribution import guided_backprop  # the one implementation
from .hooks import (capture, check_count, check_generator, check_input, eval_mode, layer_list, progress_reporter,
                    run_model, unwrap)
from .models import default_cam_layer, find_layer

Layer = Union[None, str, Sequence[str]]
EPS = 1e-12

# The CAM methods (the map-making ones; vizlab.methods is the one list of every method)
METHODS = methods.names(kind="map", module="cam")


# --------------------------------------------------------------------------------------------
# The shared core
# --------------------------------------------------------------------------------------------

@dataclass
class LayerData:
    """What a weighting rule may use: one layer's output and (if captured) its gradient."""

    model: nn.Module
    x: torch.Tensor             # the input batch [N, C, H, W]
    layer: str                  # the layer's name
    A: torch.Tensor             # its output [N, K, h, w]
    G: Optional[torch.Tensor]   # dS/dA, same shape (None for gradient-free methods)
    logits: torch.Tensor        # [N, classes] of the clean input
    target: _targets.Target     # as passed by the caller


WeightRule = Callable[[LayerData], torch.Tensor]


def _fixed_target(target: _targets.Target, logits: torch.Tensor) -> _targets.Target:
    """Freeze ``target`` to class indices of the *clean* input (``vizlab.targets.freeze``), so that extra
    forward passes (noisy or masked copies) explain the same class even if their prediction changes."""
    return _targets.freeze(target, None, logits.shape[0], logits)


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    """Min-max each map of ``[N, ...]`` to [0, 1]; a constant map becomes zeros (never NaN)."""
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > EPS, (flat - lo) / span.clamp_min(EPS), torch.zeros_like(flat))
    return out.reshape(maps.shape)


def _weighted_sum(A: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k A_k``: ``w`` is ``[N, K]`` (one weight per channel) or ``[N, K, h, w]``."""
    if w.ndim == 2:
        w = w[:, :, None, None]
    if w.shape[:2] != A.shape[:2]:
        raise ValueError(f"weights {tuple(w.shape)} do not fit activations {tuple(A.shape)}")
    return (w * A).sum(dim=1)


def _layer_names(model: nn.Module, layer: Layer, x: Optional[torch.Tensor] = None) -> list[str]:
    if layer is None:
        return [default_cam_layer(model, x)]
    if isinstance(layer, (list, tuple)) and not layer:
        raise ValueError("layer=[] names no layer; pass a name, a list of names or None (the default layer)")
    names = layer_list(layer)
    out = []
    for name in names:
        if isinstance(name, nn.Module):
            found = [n for n, m in model.named_modules() if m is name]
            if not found:
                raise ValueError("that module is not part of the model")
            name = found[0]
        find_layer(model, name)  # a clear error listing the closest names
        out.append(name)
    return out


def _class_map(model: nn.Module, x: torch.Tensor, target: _targets.Target, layer: Layer,
               rule: WeightRule, *, gradients: bool = True, relu: bool = True, upsample: bool = True,
               normalize: bool = False, fuse: str = "mean") -> torch.Tensor:
    """The one core: capture -> weights -> ReLU(sum_k w_k A_k) -> bilinear upsampling."""
    model = unwrap(model)
    x = check_input(x, model)
    if fuse not in ("mean", "max"):
        raise ValueError(f"fuse must be 'mean' or 'max', not {fuse!r}")
    target = _targets.resolve(target, model)
    x = x.detach()
    with eval_mode(model), torch.inference_mode(False):
        names = _layer_names(model, layer, x)
        if len(names) > 1 and not upsample:
            raise ValueError("fusing several layers needs a common resolution: keep upsample=True")
        cap = capture(model, x, names, target=target, gradients=gradients)
        maps = []
        for name in names:
            A = cap.activations[name]
            if A.ndim != 4:
                raise ValueError(f"layer {name!r} outputs shape {tuple(A.shape)}; a class activation map "
                                 "needs a convolutional layer with output [N, K, h, w]")
            data = LayerData(model, x, name, A, cap.gradients.get(name), cap.logits, target)
            with torch.no_grad():
                m = _weighted_sum(A, rule(data))
                if relu:
                    m = F.relu(m)
                if upsample and m.shape[-2:] != x.shape[-2:]:
                    m = F.interpolate(m[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
                maps.append(m)
    if len(maps) == 1:
        out = maps[0]
        return _min_max(out) if normalize else out
    # Several layers: their maps live on different scales, so each is min-max'ed first (as
    # pytorch-grad-cam does), then they are averaged (or the maximum is kept, as torchcam does).
    stack = torch.stack([_min_max(m) for m in maps])
    out = stack.mean(0) if fuse == "mean" else stack.amax(0)
    return _min_max(out) if normalize else out


# --------------------------------------------------------------------------------------------
# The methods: each one supplies only its weights
# --------------------------------------------------------------------------------------------

def _linear_head(model: nn.Module, data: LayerData) -> nn.Linear:
    """The linear layer that maps GAP(A) to the logits -- or a teaching error if there is none."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == data.logits.shape[1]]
    why = ("CAM (Zhou et al. 2016) needs a network that ends in global average pooling followed by ONE "
           "linear layer: only then is the class score a weighted sum of the layer's channel averages, "
           "S_c = sum_k w_ck * mean(A_k) + b_c, and the weights w_ck can be read off the classifier. ")
    hint = ("Use vizlab.grad_cam instead: it gets the weights from gradients, works for any "
            "differentiable head, and equals CAM on a GAP + linear model.")
    if not linears:
        raise ValueError(f"{why}{type(model).__name__} has no linear layer with {data.logits.shape[1]} "
                         f"outputs. {hint}")
    fc = linears[-1]
    with torch.no_grad():
        gap = data.A.mean(dim=(2, 3))
        if gap.shape[1] != fc.in_features:
            raise ValueError(f"{why}Layer {data.layer!r} has {gap.shape[1]} channels but the classifier takes "
                             f"{fc.in_features} inputs, so the logits are not a linear function of its "
                             f"channel averages. {hint}")
        rebuilt = F.linear(gap, fc.weight, fc.bias)  # not fc(gap): a user's hook on fc must not fire twice
        scale = data.logits.abs().max().clamp_min(1.0)
        err = float((rebuilt - data.logits).abs().max() / scale)
    if err > 1e-4:
        raise ValueError(f"{why}For layer {data.layer!r} of {type(model).__name__} the logits are not "
                         f"classifier(GAP(A)) (relative deviation {err:.2g}): something non-linear sits "
                         f"between this layer and the classifier. {hint}")
    return fc


def _cam_weights(data: LayerData) -> torch.Tensor:
    fc = _linear_head(data.model, data)
    if callable(data.target):
        raise ValueError("cam explains a class: pass an int (or one int per image), not a callable; "
                         "grad_cam explains any differentiable score")
    idx = _targets.class_indices(data.target, data.logits)
    return fc.weight.detach()[idx]


def cam(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
        **options) -> torch.Tensor:
    """Class Activation Map (Zhou et al. 2016, "Learning Deep Features for Discriminative
    Localization", Sec. 2): ``M_c(x, y) = sum_k w^c_k f_k(x, y)`` with ``w^c_k`` the classifier's
    weight from channel ``k`` to class ``c``.

    Needs global average pooling + one linear layer after ``layer`` (checked numerically: the
    logits must equal ``classifier(mean over positions of A)``); any other model raises an error
    that explains why and points to ``grad_cam``. The paper has no ReLU -- pass ``relu=False``
    for the original (torchcam's ``CAM`` does the same); the default keeps the ReLU so that
    ``cam`` and ``grad_cam`` can be compared directly.
    """
    return _class_map(model, x, target, layer, _cam_weights, gradients=False, **options)


def _grad_cam_weights(data: LayerData) -> torch.Tensor:
    return data.G.mean(dim=(2, 3))                                    # Selvaraju eq. 1


def grad_cam(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
             **options) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ``alpha^c_k = 1/Z sum_ij dy^c/dA^k_ij`` (eq. 1), the
    gradient averaged over positions, then ``ReLU(sum_k alpha^c_k A^k)`` (eq. 2).

    Works for any differentiable head (FC layers, captioning, ...). On a GAP + linear model the
    gradient is ``W[c, k] / (h w)`` at every position, so Grad-CAM = CAM / (h w).
    """
    return _class_map(model, x, target, layer, _grad_cam_weights, **options)


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den where den != 0, else 0 (the paper's alpha is 0 where the gradient is 0)."""
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def _pp_weights(G1: torch.Tensor, G2: torch.Tensor, G3: torch.Tensor, A: torch.Tensor, eps: float) -> torch.Tensor:
    """Grad-CAM++ weights from (possibly averaged) first, second and third derivative terms.

    Computed in float64 (pass the G terms in float64): G^3 of a large score (``1e20 * logit``)
    overflows float32 and would turn alpha into inf / inf = NaN. Returned in float64."""
    A = A.double()
    sum_a = A.sum(dim=(2, 3), keepdim=True)
    alpha = _safe_div(G2, 2 * G2 + sum_a * G3 + eps)
    alpha = torch.where(G1 != 0, alpha, torch.zeros_like(alpha))
    return (alpha * F.relu(G1)).sum(dim=(2, 3))


def _to_map_dtype(w: torch.Tensor, dtype: torch.dtype, rescale: bool, why: str) -> torch.Tensor:
    """Float64 weights back to the map's dtype. If they do not fit (e.g. f'(S) = exp(S / T) / T
    for a small T), rescale each image's weights by their largest value when the map is
    normalised anyway (its shape does not depend on a positive factor), else say so."""
    if w.device.type == "meta":  # shapes only (device tests): no values to check
        return w.to(dtype)
    if not torch.isfinite(w).all():
        raise ValueError(f"the Grad-CAM++ weights are not finite: {why}")
    big = w.abs().amax(dim=1, keepdim=True)
    if bool((big > torch.finfo(dtype).max).any()):
        if not rescale:
            raise ValueError(f"the Grad-CAM++ weights reach {float(big.max()):.3g}, more than {dtype} can hold "
                             f"({why}); pass normalize=True (a positive factor does not change the map's shape) "
                             "or choose an output_fn that grows less steeply")
        w = w / big.clamp_min(1e-300)
    return w.to(dtype)


def _derivatives(output_fn: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor):
    """f'(s), f''(s), f'''(s) of an elementwise function by autograd (s: [N])."""
    s = s.detach().clone().requires_grad_(True)
    out = []
    with torch.enable_grad():
        y = output_fn(s)
        for _ in range(3):
            d = None
            if y.requires_grad:  # a derivative that is constant does not depend on s any more
                d = torch.autograd.grad(y.sum(), s, create_graph=True, allow_unused=True)[0]
            y = torch.zeros_like(s) if d is None else d
            out.append(y)
    return tuple(d.detach() for d in out)


def grad_cam_pp(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
                *, output_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, eps: float = 0.0,
                **options) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018): ``w^c_k = sum_ij alpha^kc_ij relu(dY^c/dA^k_ij)``,
    a *weighted* average of the positive gradients, with

    * general form (``output_fn=f``, the explained output is ``Y = f(S)`` for the score ``S``)::

        alpha = d2Y / (2 d2Y + sum_ab A_ab d3Y)        (d2Y, d3Y: 2nd/3rd derivative w.r.t. A_ij)

      For a network that is piecewise linear after ``layer`` (ReLU/ReLU6, pooling, BN, linear),
      S is linear in A locally, so ``dnY = f^(n)(S) G^n`` exactly; f^(n) come from autograd.
    * **default** (``output_fn=None``): the exponential special case ``Y = exp(S)`` (eq. 19), where
      every ``exp(S)`` cancels in alpha and only scales the map::

        alpha = G^2 / (2 G^2 + sum_ab A_ab G^3)

      This is what pytorch-grad-cam and torchcam implement (pytorch-grad-cam adds ``eps=1e-6``
      to the denominator; pass ``eps=1e-6`` to match it exactly). ``output_fn=torch.exp`` gives
      the same map up to the factor exp(S); ``output_fn=lambda s: torch.exp(s / T)`` shows how
      the choice of f changes alpha (large T -> alpha -> 1/2, i.e. Grad-CAM on positive gradients).
    """
    rescale = bool(options.get("normalize", False))

    def rule(d: LayerData) -> torch.Tensor:
        G = d.G.double()
        if output_fn is None:
            w = _pp_weights(G, G ** 2, G ** 3, d.A, eps)
            return _to_map_dtype(w, d.A.dtype, rescale, "the score's gradients are too large")
        s = _targets.scores(_fixed_target(d.target, d.logits), d.logits).double()
        f = _derivatives(output_fn, s)
        if s.device.type != "meta" and not all(torch.isfinite(v).all() for v in f):
            raise ValueError(f"output_fn or its derivatives are not finite at the score {s.tolist()} (e.g. exp(S / T) "
                             "with a small T overflows); choose an output_fn that grows less steeply")
        f1, f2, f3 = (v[:, None, None, None] for v in f)
        w = _pp_weights(f1 * G, f2 * G ** 2, f3 * G ** 3, d.A, eps)
        return _to_map_dtype(w, d.A.dtype, rescale, "f'(S) is large")
    return _class_map(model, x, target, layer, rule, **options)


def smooth_grad_cam_pp(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
                       *, samples: int = 16, std: float = 0.3, generator: Optional[torch.Generator] = None,
                       batch_size: int = 8, eps: float = 0.0, n_samples: Optional[int] = None,
                       **options) -> torch.Tensor:
    """Smooth Grad-CAM++ (Omeiza et al. 2019): Grad-CAM++ whose derivative terms are averaged
    over ``samples`` noisy copies ``x + N(0, std^2)`` of the input (SmoothGrad's idea)::

        alpha = mean(G^2) / (2 mean(G^2) + sum_ab A_ab mean(G^3)),   w_k = sum_ij alpha relu(mean(G))

    ``A`` is the clean input's activation. The paper writes ``mean(G)`` in alpha's numerator;
    like torchcam we use ``mean(G^2)``, which is what the Grad-CAM++ derivation gives. ``std``
    is in input units (0.3 is 15 % of the [-1, 1] range of EfficientNet-Lite's input, torchcam's
    default). The noise comes from ``generator`` (default: a new one seeded with 0), never from
    the global RNG, so a call is reproducible. Noisy copies run in chunks of ``batch_size``.

    ``samples`` is named as in ``vizlab.smoothgrad`` (``n_samples``, the old name, still works with a
    DeprecationWarning). ``std`` is *not* SmoothGrad's ``noise``: that one is a fraction of each image's
    range, this one an absolute standard deviation in input units, as in the paper and torchcam.
    """
    if n_samples is not None:
        warnings.warn("smooth_grad_cam_pp: n_samples is now called samples, as in vizlab.smoothgrad",
                      DeprecationWarning, stacklevel=2)
        samples = n_samples
    n_samples, batch_size = check_count("samples", samples), check_count("batch_size", batch_size)
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) or std < 0:
        raise ValueError(f"std is the noise level in input units: a finite number >= 0, got {std!r}")
    gen = check_generator(generator)
    rescale = bool(options.get("normalize", False))

    def rule(d: LayerData) -> torch.Tensor:
        tgt = _fixed_target(d.target, d.logits)
        sums = [torch.zeros_like(d.A, dtype=torch.float64) for _ in range(3)]
        noise = torch.randn((d.x.shape[0], n_samples, *d.x.shape[1:]), generator=gen, dtype=d.x.dtype,
                            device=gen.device).to(d.x.device) * std
        for n in range(d.x.shape[0]):
            t_n = tgt if callable(tgt) else tgt[n:n + 1]
            for start in range(0, n_samples, batch_size):
                chunk = d.x[n:n + 1] + noise[n, start:start + batch_size]
                t_chunk = t_n if callable(t_n) else t_n.expand(chunk.shape[0])
                G = capture(d.model, chunk, d.layer, target=t_chunk, gradients=True).gradients[d.layer].double()
                for p, acc in enumerate(sums, start=1):
                    acc[n] += (G ** p).sum(dim=0)
        G1, G2, G3 = (s / n_samples for s in sums)
        return _to_map_dtype(_pp_weights(G1, G2, G3, d.A, eps), d.A.dtype, rescale,
                             "the score's gradients are too large")
    return _class_map(model, x, target, layer, rule, gradients=False, **options)


def score_cam(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
              *, batch_size: int = 16, align_corners: bool = False,
              progress: Union[bool, Callable[[int, int], None], None] = None, **options) -> torch.Tensor:
    """Score-CAM (Wang et al. 2020): no gradients. Each channel ``A_k``, upsampled and min-max'ed
    to [0, 1], masks the input; the weight is how much the masked input ``x * H_k`` scores
    (the "increase of confidence" of eq. 5), softmax-normalised over channels (Algorithm 1)::

        w_k = softmax_k( S(x * H_k) )

    (the paper subtracts the baseline score S(X_b); softmax is unchanged by that constant). Runs
    K masked forward passes per image without autograd, in batches of ``batch_size`` -- except that
    channels with a constant map (dead channels) share one pass, since their masks are identical.
    ``align_corners`` is for the mask upsampling: the paper's code uses ``False``,
    pytorch-grad-cam ``True`` (pass ``align_corners=True`` to match it exactly).
    ``progress(done, total)``, if given, is called after every batch of passes with the number of
    channels scored so far (over all N images) and ``total = N * K`` -- e.g. an explorer's
    "k / K channels"; it rises to ``total`` (a dead channel counts when its shared pass ran).
    ``progress=True`` shows a progress bar instead.
    """
    batch_size = check_count("batch_size", batch_size)
    report = progress_reporter(progress, "Score-CAM")

    def rule(d: LayerData) -> torch.Tensor:
        tgt = _fixed_target(d.target, d.logits)
        N, K = d.A.shape[:2]
        weights = torch.empty(N, K, dtype=d.A.dtype, device=d.A.device)
        with torch.inference_mode():
            for n in range(N):
                # A constant channel (often a dead, all-zero one: 816 of 1280 at EfficientNet-Lite0's
                # head on the cat photo) gives the all-zero mask: one forward pass serves them all.
                # Constancy is tested on the low-resolution A: upsampling adds ~1e-7 ripple to a
                # constant map, which the min-max below would stretch into a full-range mask.
                a = d.A[n]
                constant = (a.amax(dim=(1, 2)) - a.amin(dim=(1, 2))) <= 0
                masks = F.interpolate(a[:, None], size=d.x.shape[-2:], mode="bilinear",
                                      align_corners=align_corners)  # [K, 1, H, W]
                lo = masks.amin(dim=(2, 3), keepdim=True)
                hi = masks.amax(dim=(2, 3), keepdim=True)
                masks = (masks - lo) / (hi - lo + 1e-8)
                masks[constant] = 0
                live = (~constant).nonzero().flatten()
                if constant.any():
                    live = torch.cat([live, constant.nonzero().flatten()[:1]])
                scores = torch.zeros(K, dtype=d.A.dtype, device=d.A.device)
                for start in range(0, len(live), batch_size):
                    idx = live[start:start + batch_size]
                    logits = run_model(d.model, d.x[n:n + 1] * masks[idx])
                    scores[idx] = (_targets.scores(tgt, logits) if callable(tgt) else logits[:, int(tgt[n])]).to(scores.dtype)
                    if report is not None:   # the last pass of a batch may stand for every dead channel
                        done = min(start + batch_size, len(live))
                        shared = int(constant.sum()) - 1 if constant.any() and done == len(live) else 0
                        report(n * K + done + shared, N * K)
                if constant.any():
                    scores[constant] = scores[live[-1]]
                weights[n] = scores.softmax(dim=0)
        return weights.clone()
    return _class_map(model, x, target, layer, rule, gradients=False, **options)


def _layer_cam_weights(data: LayerData) -> torch.Tensor:
    return F.relu(data.G)                                              # one weight per position


def layer_cam(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
              **options) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): a weight for every channel *and position*,
    ``w^kc_ij = relu(dy^c/dA^k_ij)`` (eq. 5), map ``ReLU(sum_k w^k ⊙ A^k)`` (eqs. 6-7).

    Because the weight is local, shallow layers give fine-grained maps too; pass several layers
    (``layer=["blocks.5", "blocks.10", "head"]``) to fuse them (``fuse="max"`` is closest to the
    paper's fusion).
    """
    return _class_map(model, x, target, layer, _layer_cam_weights, **options)


def guided_grad_cam(model: nn.Module, x: torch.Tensor, target: _targets.Target = None, layer: Layer = None,
                    *, allow_mixed_rules: bool = False, **options) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017, Sec. 3.1): guided backpropagation (fine, pixel-level,
    not class-discriminative) multiplied pointwise by the upsampled Grad-CAM map (coarse,
    class-discriminative). Returns a tensor shaped like ``x``. Guided backprop is defined for ReLU
    networks: other activations raise an error unless ``allow_mixed_rules=True``
    (``vizlab.attribution.relu_rule``)."""
    model = unwrap(model)
    x = check_input(x, model)
    heat = grad_cam(model, x, target, layer, **{**options, "upsample": True})
    gb = guided_backprop(model, x, target, allow_mixed_rules=allow_mixed_rules)
    return gb * heat[:, None]


def get_method(name: str) -> Callable[..., torch.Tensor]:
    """The CAM function called ``name`` (one of ``METHODS``), with a helpful error otherwise."""
    return methods.function(name, METHODS, "CAM method")


__all__ = [*methods.names(module="cam"), "METHODS", "get_method", "LayerData"]
