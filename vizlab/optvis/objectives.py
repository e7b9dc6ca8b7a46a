"""What to maximise: objectives that add and scale.

An ``Objective`` maps what the network computed to one score per image, ``[N]``, which
``render`` *maximises* (the sum over the batch). It names the layers it reads, so ``render``
hooks only those and stops the forward pass once they are computed. ``acts`` holds each
layer's output by name, plus ``acts["logits"]`` (the model's output) and ``acts["image"]``
(the image in [0, 1] before transforms, for priors on the picture itself).

Objectives combine like numbers, and the name says what was built::

    obj = channel("blocks.5", 7) - 0.1 * l2("image")      # "channel(blocks.5, 7) - 0.1 * l2(image)"

* ``channel(layer, c)``  -- mean of channel ``c`` over positions: ``mean_{y,x} A[n, c, y, x]``
* ``neuron(layer, c)``   -- one position (default the centre): ``A[n, c, H // 2, W // 2]``
* ``layer_l2(layer)``    -- DeepDream: ``mean A[n]^2`` (everything in the layer, louder)
* ``class_logit(k)``     -- the pre-softmax score ``z_k`` (Simonyan et al. 2014 insist on the logit:
  the softmax probability can also rise by pushing other classes down)
* ``direction(layer, v)`` -- mean over positions of the cosine between ``A[n, :, y, x]`` and ``v``
* ``diversity(layer)``   -- minus the mean cosine similarity between image ``n``'s Gram matrix
  ``G_n = A_n A_n^T`` and every other image's (Lucid's; larger = the batch is more varied)
* ``l2(layer)``, ``total_variation("image")`` -- the priors: ``mean x^2`` and the mean absolute
  difference of neighbouring pixels; subtract them to keep an image small and smooth

``batch=i`` restricts a layer objective to image ``i`` (zero for the others): a batch of N
images renders N channels in one pass, ``channels(layer, [c0, c1, ...])``.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import operator
from typing import Callable, Iterable, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .. import targets as _targets

Acts = dict

# The model being rendered, set by ``render``/``score`` while an objective runs, so that
# ``class_logit("tabby")`` can look the name up (``vizlab.targets.resolve``). A context variable:
# each thread sees only its own call's model.
_MODEL: contextvars.ContextVar = contextvars.ContextVar("vizlab_optvis_model", default=None)


@contextlib.contextmanager
def model_context(model):
    """While the block runs, objectives that need the model (a class given by name) see ``model``."""
    token = _MODEL.set(model)
    try:
        yield
    finally:
        _MODEL.reset(token)


def _whole(name: str, value, minimum: Optional[int] = 0) -> int:
    """``value`` as an int (an int or numpy integer, not a bool or float) that is >= ``minimum``."""
    try:
        if isinstance(value, bool) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
            raise TypeError
        value = operator.index(value)  # an int, numpy integer or one-element integer tensor
    except TypeError:
        raise TypeError(f"{name} must be a whole number such as 3, got {type(value).__name__} {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _weight(value, what: str) -> float:
    """A finite real number to scale or shift an objective by."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"an objective can be {what} a number only (to weight it), got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"an objective cannot be {what} {value}: the scores, and so the image, would be NaN "
                         "or infinite; use a finite weight such as 0.1")
    return value


class Objective:
    """A score per image to maximise: ``objective(acts) -> [N]``; add, subtract and scale them."""

    def __init__(self, fn: Callable[[Acts], torch.Tensor], name: str, layers: Iterable[str] = ()):
        self.fn = fn
        self.name = name
        self.layers = tuple(dict.fromkeys(layers))

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.fn(acts)

    def __repr__(self) -> str:
        return self.name

    # -- arithmetic ------------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            other = _weight(other, "shifted by")
            if other == 0:
                return self
            return Objective(lambda a: self(a) + other, f"{self.name} + {other:g}", self.layers)
        other = as_objective(other)
        return Objective(lambda a: self(a) + other(a), f"{self.name} + {other.name}", self.layers + other.layers)

    __radd__ = __add__  # sum([...]) starts from 0

    def __neg__(self):
        return Objective(lambda a: -self(a), f"-{_wrap(self.name)}", self.layers)

    def __sub__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return self + (-_weight(other, "shifted by"))
        other = as_objective(other)
        return Objective(lambda a: self(a) - other(a), f"{self.name} - {_wrap(other.name)}",
                         self.layers + other.layers)

    def __mul__(self, k):
        k = _weight(k, "multiplied by")
        return Objective(lambda a: k * self(a), f"{k:g} * {_wrap(self.name)}", self.layers)

    __rmul__ = __mul__

    def __truediv__(self, k):
        if _weight(k, "divided by") == 0:
            raise ValueError("an objective cannot be divided by 0; to switch a term off, leave it out "
                             "(or multiply it by 0)")
        return self * (1.0 / k)


def _wrap(name: str) -> str:
    return f"({name})" if (" + " in name or " - " in name) else name


def as_objective(obj) -> Objective:
    """An ``Objective`` as is; a plain function ``f(acts) -> [N]`` wrapped (it reads no layer)."""
    if isinstance(obj, Objective):
        return obj
    if callable(obj):
        return Objective(obj, getattr(obj, "__name__", "custom"))
    raise TypeError(f"expected an Objective (e.g. vz.optvis.objectives.channel('blocks.5', 0)), "
                    f"got {type(obj).__name__}")


def _layer(acts: Acts, layer: str) -> torch.Tensor:
    return acts[layer]


def _spatial(A: torch.Tensor, layer: str, what: str) -> None:
    if A.ndim != 4:
        raise ValueError(f"{what} needs a layer with a spatial output [N, C, H, W]; {layer} gives "
                         f"{list(A.shape)}. Use channel({layer!r}, c) for a layer without positions")


def _check_layer_name(layer) -> str:
    if not isinstance(layer, str):
        raise TypeError(f"a layer is named by a string such as 'blocks.5', got {type(layer).__name__} {layer!r}; "
                        "vizlab.layers(model) lists the names")
    return layer


def _only(scores: torch.Tensor, batch: Optional[int]) -> torch.Tensor:
    """Keep image ``batch``'s score, zero for the others (``batch=None``: keep all)."""
    if batch is None:
        return scores
    if not -scores.shape[0] <= batch < scores.shape[0]:
        raise IndexError(f"batch={batch}, but the image batch has {scores.shape[0]} images")
    mask = torch.zeros_like(scores)
    mask[batch] = 1
    return scores * mask


def _batch(batch):
    return None if batch is None else _whole("batch (the image an objective is restricted to)", batch, None)


def _tag(batch: Optional[int]) -> str:
    return "" if batch is None else f", batch={batch}"


def channel(layer: str, c: int, batch: Optional[int] = None) -> Objective:
    """Mean activation of channel ``c``: ``mean_{y,x} A[n, c, y, x]``."""
    _check_layer_name(layer)
    c = _whole("channel", c)
    batch = _batch(batch)

    def fn(acts):
        A = _layer(acts, layer)
        _check_channel(A, c, layer)
        return _only(A[:, c].mean((-2, -1)) if A.ndim == 4 else A[:, c], batch)
    return Objective(fn, f"channel({layer}, {c}{_tag(batch)})", [layer])


def _check_channel(A: torch.Tensor, c: int, layer: str) -> None:
    if not 0 <= c < A.shape[1]:
        raise IndexError(f"{layer} has {A.shape[1]} channels (0..{A.shape[1] - 1}); got channel {c}")


def neuron(layer: str, c: int, y: Optional[int] = None, x: Optional[int] = None,
           batch: Optional[int] = None) -> Objective:
    """One unit: ``A[n, c, y, x]`` (default the centre position ``H // 2, W // 2``)."""
    _check_layer_name(layer)
    c = _whole("channel", c)
    y = None if y is None else _whole("y", y)
    x = None if x is None else _whole("x", x)
    batch = _batch(batch)

    def fn(acts):
        A = _layer(acts, layer)
        _spatial(A, layer, "neuron")
        _check_channel(A, c, layer)
        h, w = A.shape[-2:]
        yy, xx = h // 2 if y is None else y, w // 2 if x is None else x
        if yy >= h or xx >= w:
            raise ValueError(f"neuron position y={yy}, x={xx} is outside the {h} x {w} map of {layer} "
                             f"(rows 0..{h - 1}, columns 0..{w - 1}); a larger image gives a larger map")
        return _only(A[:, c, yy, xx], batch)
    where = "centre" if y is None and x is None else f"y={y}, x={x}"
    return Objective(fn, f"neuron({layer}, {c}, {where}{_tag(batch)})", [layer])


def layer_l2(layer: str, batch: Optional[int] = None) -> Objective:
    """DeepDream: ``mean A[n]^2`` over channels and positions (amplify whatever the layer sees)."""
    _check_layer_name(layer)
    batch = _batch(batch)
    return Objective(lambda acts: _only(_layer(acts, layer).pow(2).flatten(1).mean(1), batch),
                     f"deepdream({layer}{_tag(batch)})", [layer])


deepdream = layer_l2


def class_logit(k: Union[int, str], batch: Optional[int] = None) -> Objective:
    """The pre-softmax score ``z_k`` of class ``k`` (an index, or a class name such as ``"tabby"``,
    looked up in the rendered model's class names by ``render``/``score``)."""
    if not isinstance(k, str):
        k = _whole("class_logit's class", k)
    batch = _batch(batch)

    def fn(acts):
        z = acts["logits"]
        if not isinstance(z, torch.Tensor) or z.ndim != 2:
            got = list(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"class_logit needs logits [N, classes] from the model, got {got}")
        index = k
        if isinstance(k, str):
            model = _MODEL.get()
            if model is None:
                raise ValueError(f"class_logit({k!r}) names a class: it is looked up in the model's class names "
                                 "when render/score run it; called directly, pass the index "
                                 f"vizlab.class_index(model, {k!r})")
            index = _targets.resolve(k, model)
        if not 0 <= index < z.shape[1]:
            raise IndexError(f"the model has {z.shape[1]} classes; got class {index}")
        return _only(z[:, index], batch)
    return Objective(fn, f"class_logit({k}{_tag(batch)})", ["logits"])


def direction(layer: str, vector: torch.Tensor, batch: Optional[int] = None) -> Objective:
    """Mean over positions of ``cos(A[n, :, y, x], v)`` (Lucent's ``direction``); on a layer without
    positions (``[N, C]``, e.g. a linear layer) the cosine of ``A[n]`` and ``v``."""
    _check_layer_name(layer)
    batch = _batch(batch)
    if not isinstance(vector, torch.Tensor):
        raise TypeError(f"direction needs a tensor of one value per channel, got {type(vector).__name__}")
    if vector.ndim != 1 or vector.numel() == 0 or not vector.is_floating_point():
        raise ValueError(f"direction needs a 1-D float tensor of one value per channel, got {vector.dtype} "
                         f"{list(vector.shape)}")
    if not torch.isfinite(vector).all() or not vector.abs().sum() > 0:
        raise ValueError("the direction vector holds NaN/inf or is all zero: a cosine with it is undefined; "
                         "pass a finite, non-zero vector")

    def fn(acts):
        A = _layer(acts, layer)
        if A.ndim < 2:
            raise ValueError(f"direction needs a layer output [N, C, ...]; {layer} gives {list(A.shape)}")
        v = vector.to(A.device, A.dtype).reshape(1, -1, *([1] * (A.ndim - 2)))
        if v.shape[1] != A.shape[1]:
            raise ValueError(f"{layer} has {A.shape[1]} channels, the direction {v.shape[1]} entries")
        cos = F.cosine_similarity(A, v, dim=1)
        return _only(cos if cos.ndim == 1 else cos.flatten(1).mean(1), batch)
    return Objective(fn, f"direction({layer}{_tag(batch)})", [layer])


def gram(A: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``G_n = F_n F_n^T`` with ``F_n = A[n]`` flattened to channels x positions."""
    Fl = A.flatten(2)
    return Fl @ Fl.transpose(1, 2)


def diversity(layer: str) -> Objective:
    """``-1/N * sum_{m != n} <G_n, G_m>`` for unit-norm Gram matrices, credited to image ``n``
    (Lucid's diversity term with the sign flipped so that larger is more diverse)."""
    def fn(acts):
        G = F.normalize(gram(_layer(acts, layer)).flatten(1), dim=1)
        sim = G @ G.T
        n = G.shape[0]
        return -(sim.sum(1) - sim.diagonal()) / n
    return Objective(fn, f"diversity({layer})", [layer])


def l2(layer: str = "image", batch: Optional[int] = None) -> Objective:
    """``mean x^2`` of a layer or of the image (``"image"``, in [0, 1]); subtract it as a prior."""
    return Objective(lambda acts: _only(acts[layer].pow(2).flatten(1).mean(1), batch), f"l2({layer})",
                     [] if layer == "image" else [layer])


TV_EPS = 1e-12


def _power(d: torch.Tensor, beta: float) -> torch.Tensor:
    """``|d|^beta``; for ``beta < 1`` smoothed at 0 as ``(d^2 + TV_EPS)^(beta/2)``."""
    if beta >= 1:
        return d.abs().pow(beta)
    return (d * d + TV_EPS).pow(beta / 2)


def total_variation(layer: str = "image", beta: float = 1.0) -> Objective:
    """``mean |x[y+1, x] - x[y, x]|^beta + mean |x[y, x+1] - x[y, x]|^beta``: how rough an image is
    (Mahendran & Vedaldi 2015); subtract it as a prior.

    For ``beta < 1`` the slope of ``|d|^beta`` is infinite at ``d = 0`` (a flat patch would give a
    NaN gradient, 0 * inf), so, as Mahendran & Vedaldi do, a small epsilon goes inside the power:
    ``|d|^beta`` becomes ``(d^2 + eps)^(beta/2)`` with ``eps = TV_EPS = 1e-12``. The gradient is then
    finite everywhere (0 on a flat patch); a difference ``|d| >> 1e-6`` scores the same as before,
    a flat patch ``eps^(beta/2)`` (1e-3 for ``beta = 0.5``) instead of 0. ``beta >= 1`` is exact.
    """
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"total_variation needs beta > 0 (1 = absolute differences, 2 = squared), got {beta}")

    def fn(acts):
        x = acts[layer]
        dy = _power(x[..., 1:, :] - x[..., :-1, :], beta).flatten(1).mean(1)
        dx = _power(x[..., :, 1:] - x[..., :, :-1], beta).flatten(1).mean(1)
        return dy + dx
    return Objective(fn, f"tv({layer})", [] if layer == "image" else [layer])


def channels(layer: str, cs: Sequence[int]) -> Objective:
    """Image ``i`` of the batch maximises channel ``cs[i]``: one pass renders ``len(cs)`` channels."""
    if isinstance(cs, torch.Tensor):
        cs = cs.tolist() if cs.ndim == 1 else cs
    if isinstance(cs, (str, torch.Tensor)) or not isinstance(cs, Iterable):
        raise TypeError(f"channels needs a list of channel numbers such as [0, 1, 2], got {type(cs).__name__}")
    cs = list(cs)
    if not cs:
        raise ValueError("channels needs at least one channel number, e.g. channels(layer, [0, 1, 2]) "
                         "(image i of the batch then shows channel i)")
    parts = [channel(layer, c, batch=i) for i, c in enumerate(cs)]
    return Objective(lambda acts: sum(p(acts) for p in parts), f"channels({layer}, {list(cs)})", [layer])


__all__ = ["Objective", "as_objective", "channel", "neuron", "layer_l2", "deepdream", "class_logit", "direction",
           "diversity", "gram", "l2", "total_variation", "channels"]


def feature_match(layer: str, target: torch.Tensor) -> Objective:
    """Relative feature error ``||A[n] - T[n]||^2 / ||T[n]||^2`` (a *loss*: subtract it, or negate
    it, to match ``layer``'s features to ``target``; the content loss of style transfer)."""
    def fn(acts):
        A = _layer(acts, layer)
        if A.shape[1:] != target.shape[1:]:
            raise ValueError(f"{layer} gives {tuple(A.shape[1:])} but the target is {tuple(target.shape[1:])}; "
                             "render at the size the target was computed at")
        t = target.to(A.device, A.dtype)
        return (A - t).pow(2).flatten(1).sum(1) / t.pow(2).flatten(1).sum(1).clamp(min=1e-12)
    return Objective(fn, f"feature_error({layer})", [layer])


__all__.append("feature_match")
