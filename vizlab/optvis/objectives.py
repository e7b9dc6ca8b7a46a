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

from typing import Callable, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F

Acts = dict


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
        if isinstance(other, (int, float)):
            if other == 0:
                return self
            return Objective(lambda a: self(a) + other, f"{self.name} + {other:g}", self.layers)
        other = as_objective(other)
        return Objective(lambda a: self(a) + other(a), f"{self.name} + {other.name}", self.layers + other.layers)

    __radd__ = __add__  # sum([...]) starts from 0

    def __neg__(self):
        return Objective(lambda a: -self(a), f"-{_wrap(self.name)}", self.layers)

    def __sub__(self, other):
        other = as_objective(other) if not isinstance(other, (int, float)) else other
        if isinstance(other, (int, float)):
            return self + (-other)
        return Objective(lambda a: self(a) - other(a), f"{self.name} - {_wrap(other.name)}",
                         self.layers + other.layers)

    def __mul__(self, k):
        if not isinstance(k, (int, float)):
            raise TypeError("an objective can be multiplied by a number only (to weight it)")
        return Objective(lambda a: k * self(a), f"{k:g} * {_wrap(self.name)}", self.layers)

    __rmul__ = __mul__

    def __truediv__(self, k):
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


def _only(scores: torch.Tensor, batch: Optional[int]) -> torch.Tensor:
    """Keep image ``batch``'s score, zero for the others (``batch=None``: keep all)."""
    if batch is None:
        return scores
    if not -scores.shape[0] <= batch < scores.shape[0]:
        raise IndexError(f"batch={batch}, but the image batch has {scores.shape[0]} images")
    mask = torch.zeros_like(scores)
    mask[batch] = 1
    return scores * mask


def _tag(batch: Optional[int]) -> str:
    return "" if batch is None else f", batch={batch}"


def channel(layer: str, c: int, batch: Optional[int] = None) -> Objective:
    """Mean activation of channel ``c``: ``mean_{y,x} A[n, c, y, x]``."""
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
    def fn(acts):
        A = _layer(acts, layer)
        _check_channel(A, c, layer)
        h, w = A.shape[-2:]
        return _only(A[:, c, h // 2 if y is None else y, w // 2 if x is None else x], batch)
    where = "centre" if y is None and x is None else f"y={y}, x={x}"
    return Objective(fn, f"neuron({layer}, {c}, {where}{_tag(batch)})", [layer])


def layer_l2(layer: str, batch: Optional[int] = None) -> Objective:
    """DeepDream: ``mean A[n]^2`` over channels and positions (amplify whatever the layer sees)."""
    return Objective(lambda acts: _only(_layer(acts, layer).pow(2).flatten(1).mean(1), batch),
                     f"deepdream({layer}{_tag(batch)})", [layer])


deepdream = layer_l2


def class_logit(k: int, batch: Optional[int] = None) -> Objective:
    """The pre-softmax score ``z_k`` of class ``k``."""
    def fn(acts):
        z = acts["logits"]
        if not 0 <= k < z.shape[1]:
            raise IndexError(f"the model has {z.shape[1]} classes; got class {k}")
        return _only(z[:, k], batch)
    return Objective(fn, f"class_logit({k}{_tag(batch)})", ["logits"])


def direction(layer: str, vector: torch.Tensor, batch: Optional[int] = None) -> Objective:
    """Mean over positions of ``cos(A[n, :, y, x], v)`` (Lucent's ``direction``)."""
    def fn(acts):
        A = _layer(acts, layer)
        v = vector.to(A.device, A.dtype).reshape(1, -1, *([1] * (A.ndim - 2)))
        if v.shape[1] != A.shape[1]:
            raise ValueError(f"{layer} has {A.shape[1]} channels, the direction {v.shape[1]} entries")
        return _only(F.cosine_similarity(A, v, dim=1).flatten(1).mean(1), batch)
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


def total_variation(layer: str = "image", beta: float = 1.0) -> Objective:
    """``mean |x[y+1, x] - x[y, x]|^beta + mean |x[y, x+1] - x[y, x]|^beta``: how rough an image is
    (Mahendran & Vedaldi 2015); subtract it as a prior."""
    def fn(acts):
        x = acts[layer]
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().pow(beta).flatten(1).mean(1)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().pow(beta).flatten(1).mean(1)
        return dy + dx
    return Objective(fn, f"tv({layer})", [] if layer == "image" else [layer])


def channels(layer: str, cs: Sequence[int]) -> Objective:
    """Image ``i`` of the batch maximises channel ``cs[i]``: one pass renders ``len(cs)`` channels."""
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
