"""Dataset examples: the real image regions that excite a channel most (Zeiler & Fergus, *Visualizing and
Understanding Convolutional Networks*, ECCV 2014, figure 2's "top 9"; Olah et al., *Feature Visualization*,
Distill 2017, first figure).

A unit ``(i, j)`` of channel ``c`` in layer ``l`` sees only a square of the input, its **receptive field**. Over a
pool of images, take the units with the largest activation ``A[c, i, j]`` and cut out their receptive fields: those
crops are what drives the channel in real data, to set beside the image filter ascent renders for it.

* ``receptive_field(model, layer, x)`` -- the field's size, stride and offset, **computed analytically** from the
  kernels, strides, dilations and paddings of the convolutions and poolings the forward pass runs before ``layer``
  (recorded by forward hooks, in the order they run):

      r_out = r_in + (k - 1) d j_in,      j_out = j_in s,      c_out = c_in + ((k - 1) d / 2 - p) j_in,

  with ``r`` the field size, ``j`` the distance in pixels between neighbouring units, ``c`` the centre of unit 0
  (Araujo et al., *Computing Receptive Fields of Convolutional Neural Networks*, Distill 2019). A convolution or
  pooling whose input is not the chain's current size runs on a parallel branch (a ResNet's down-sampling
  shortcut) and is skipped; a residual ``out + x`` never widens the field. The tests check the result against the
  support of the gradient of one unit.
The module is called ``exemplars``, not ``dataset_examples``, so that ``vz.dataset_examples`` stays the function
(importing a submodule sets an attribute of its package that would hide a function of the same name).

* ``dataset_examples(model, layer, channel, images=None, k=9)`` -- the top-``k`` crops, their activations, source
  image and position. Default pool: every sample photo vizlab ships (``vizlab.list_samples()``) at two sizes,
  224 and 320 px (one 224 px view per photo gives only nine images' worth of positions, and larger objects
  at 224 fit a deep channel's field better, smaller ones at 320); for ``digits_cnn`` the 450 test digits.
  **Non-maximum suppression per photo**: a unit is skipped when its crop overlaps an already chosen crop of the
  same photo (at any of its sizes) by more than ``overlap`` (intersection over union, default 0.3: a crop shifted by one unit
  diagonally overlaps by about 0.4 at every layer of Lite0), so the top 9 are not nine
  shifted copies of one region.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch import nn

from . import data as _data
from . import digits as _digits
from . import hooks
from .lookup import find_layer
from .models import SamePadConv2d, probe_input

POOL_SIZES = (224, 320)


@dataclass(frozen=True)
class Field:
    """Receptive field of a layer's units: unit ``(i, j)`` sees the ``size x size`` input square centred on
    ``(offset + stride * i, offset + stride * j)`` (pixel centres at whole numbers; it may reach past the border)."""

    size: int
    stride: int
    offset: float

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)``, bottom/right exclusive, not clipped to the image."""
        top = round(self.offset + self.stride * i - (self.size - 1) / 2)
        left = round(self.offset + self.stride * j - (self.size - 1) / 2)
        return top, top + self.size, left, left + self.size


@dataclass
class DatasetExamples:
    """The top-``k`` crops of one channel. ``crops [k, C, size, size]`` are cut from the model's input tensors
    (zeros past the border, the same padding the convolutions see); ``values [k]`` the activations; ``sources`` the
    index of each crop's image in the pool; ``image_sizes`` the side of the view it came from; ``positions`` the
    unit ``(i, j)``; ``boxes`` its ``(top, bottom, left, right)`` in that view."""

    layer: str
    channel: int
    field: Field
    crops: torch.Tensor
    values: torch.Tensor
    sources: list
    image_sizes: list
    positions: list
    boxes: list


def _pair(v) -> int:
    """A square kernel / stride / padding as one int."""
    v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if v[0] != v[1]:
        raise ValueError(f"receptive_field assumes square kernels, strides and paddings; got {v}")
    return int(v[0])


def _geometry(module: nn.Module, size: int) -> tuple[int, int, int, float]:
    """``(kernel, stride, dilation, padding before the first pixel)`` of a conv or pooling on ``size`` px."""
    k, s = _pair(module.kernel_size), _pair(module.stride)
    d = _pair(getattr(module, "dilation", 1))
    if isinstance(module, SamePadConv2d):           # TensorFlow's "SAME": the padding depends on the input size
        p = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0) // 2
    elif isinstance(module.padding, str):          # "same" (stride 1) or "valid"
        p = (k - 1) * d // 2 if module.padding == "same" else 0
    else:
        p = _pair(module.padding)
    return k, s, d, p


_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def receptive_field(model: nn.Module, layer: str, x: Optional[torch.Tensor] = None) -> Field:
    """The receptive field of ``layer``'s units for input ``x`` (default: ``vizlab.models.probe_input``-sized
    zeros at the model's input size), computed from the convolutions and poolings the forward pass runs on the
    way to ``layer`` (formula in the module docstring). Square kernels and strides, as in every vizlab model."""
    model = hooks.unwrap(model)
    if x is None:
        x = probe_input(model)
    x = hooks.check_input(x, model)
    target = find_layer(model, layer)
    state = {"r": 1, "j": 1, "c": 0.0, "size": x.shape[-2], "done": None}

    def grow(module, inputs, output):
        if state["done"] is not None or inputs[0].shape[-2] != state["size"]:
            return                                  # after the layer, or on a parallel branch
        k, s, d, p = _geometry(module, state["size"])
        state["c"] += ((k - 1) * d / 2 - p) * state["j"]
        state["r"] += (k - 1) * d * state["j"]
        state["j"] *= s
        state["size"] = output.shape[-2]

    def stop(module, inputs, output):
        if state["done"] is None:
            state["done"] = Field(int(state["r"]), int(state["j"]), float(state["c"]))

    spatial = [(m, grow) for m in model.modules() if isinstance(m, _SPATIAL)]
    with hooks.eval_mode(model), hooks.forward_hooks(spatial + [(target, stop)]), torch.no_grad():
        hooks.run_model(model, x)
    if state["done"] is None:
        raise ValueError(f"layer {layer!r} was not called in the forward pass; pick a layer the model uses")
    return state["done"]


def default_pool(model: nn.Module) -> list[torch.Tensor]:
    """The images ``dataset_examples`` searches when none are given: for ``digits_cnn`` the 450 test digits
    ``[[450, 1, 32, 32]]``; otherwise every sample photo at each size of ``POOL_SIZES`` (one tensor per size,
    row ``n`` of each is photo ``n`` of ``vizlab.list_samples()``)."""
    if isinstance(hooks.unwrap(model), _digits.DigitsCNN):
        return [_digits.load_split().x_test.to(hooks.model_dtype(model) or torch.float32)]
    names = _data.list_samples()
    return [torch.cat([_data.preprocess(_data.sample_image(n), model, size=s) for n in names]) for s in POOL_SIZES]


def _views(images) -> list[torch.Tensor]:
    views = list(images) if isinstance(images, (list, tuple)) else [images]
    if not views:
        raise ValueError("images is empty; pass a batch [N, C, H, W] (or a list of batches of the same N images "
                         "at several sizes), or None for the photos vizlab ships")
    if any(not isinstance(v, torch.Tensor) or v.ndim != 4 or v.shape[0] != views[0].shape[0] for v in views):
        raise ValueError("images must be a batch [N, C, H, W] or a list of such batches holding the same N images "
                         f"(at different sizes), got {[tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for v in views]}")
    return views


def _iou(a, b) -> float:
    """Intersection over union of two boxes ``(top, bottom, left, right)``."""
    h = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    w = max(0.0, min(a[3], b[3]) - max(a[2], b[2]))
    inter = h * w
    return inter / ((a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter)


def _crop(x: torch.Tensor, box) -> torch.Tensor:
    """``x [C, H, W]`` cut to ``box``, zeros where the box leaves the image."""
    top, bottom, left, right = box
    out = x.new_zeros(x.shape[0], bottom - top, right - left)
    t, b, l, r = max(top, 0), min(bottom, x.shape[1]), max(left, 0), min(right, x.shape[2])
    if b > t and r > l:
        out[:, t - top:b - top, l - left:r - left] = x[:, t:b, l:r]
    return out


def _channels(channel, n: int) -> list[int]:
    chans = list(channel) if isinstance(channel, (list, tuple, range)) else [channel]
    for c in chans:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise TypeError(f"channel must be a whole number (or a list of them), got {type(c).__name__} {c!r}")
        if not 0 <= c < n:
            raise IndexError(f"the layer has {n} channels (0..{n - 1}); got channel {c}")
    return [int(c) for c in chans]


def layer_activations(model: nn.Module, layer: str, images=None, batch_size: int = 8) -> list[torch.Tensor]:
    """``layer``'s output for every view of the pool, ``[N, channels, h, w]`` per view (``batch_size`` images at a
    time). The expensive part of ``dataset_examples``: compute it once, then pass it as ``activations=``."""
    views = _views(default_pool(model) if images is None else images)
    batch_size = hooks.check_count("batch_size", batch_size)
    out = []
    for v in views:
        chunks = [hooks.capture(model, v[i:i + batch_size], layer).activations[layer] for i in range(0, len(v), batch_size)]
        A = torch.cat(chunks)
        if A.ndim != 4:
            raise ValueError(f"{layer} gives {list(A.shape)}, not a map [N, C, H, W]; dataset examples need a "
                             "convolutional layer (vizlab.layers(model) lists them)")
        out.append(A)
    return out


def dataset_examples(model: nn.Module, layer: str, channel: Union[int, Sequence[int]], images=None, k: int = 9,
                     overlap: float = 0.3, activations: Optional[list] = None):
    """The ``k`` receptive-field crops of ``images`` that excite ``channel`` of ``layer`` most (Zeiler & Fergus
    2014's top 9), as a ``DatasetExamples``; a list of them for a list of channels (one forward pass for all).

    ``images``: a batch ``[N, C, H, W]`` of model inputs, or a list of batches holding the same ``N`` images at
    several sizes, or ``None`` for ``default_pool(model)``. Each unit ``(i, j)`` of each view is a candidate with
    value ``A[n, channel, i, j]``; candidates are taken in decreasing value, skipping one whose box (scaled to
    its photo's size) overlaps an already taken box of the same photo by more than ``overlap`` (IoU;
    non-maximum suppression per photo, ``overlap=1`` turns it off). The receptive field is analytic
    (``receptive_field``). ``activations`` (from ``layer_activations``) skips the forward passes."""
    views = _views(default_pool(model) if images is None else images)
    k = hooks.check_count("k", k)
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Real) or not 0 <= overlap <= 1:
        raise ValueError(f"overlap is the largest IoU allowed between two crops of one photo, in [0, 1]; got {overlap!r}")
    acts = layer_activations(model, layer, views) if activations is None else activations
    chans = _channels(channel, acts[0].shape[1])
    fields = [receptive_field(model, layer, v[:1]) for v in views]
    found = [_top(views, acts, fields, layer, c, k, overlap) for c in chans]
    return found if isinstance(channel, (list, tuple, range)) else found[0]


def _top(views, acts, fields, layer, c, k, overlap) -> DatasetExamples:
    values = torch.cat([A[:, c].flatten() for A in acts])
    view_of = torch.cat([torch.full((A[:, c].numel(),), v) for v, A in enumerate(acts)])
    start = [0]
    for A in acts:
        start.append(start[-1] + A[:, c].numel())
    taken: dict[int, list] = {}
    picks = []
    for flat in torch.argsort(values, descending=True, stable=True).tolist():
        v = int(view_of[flat])
        n, rest = divmod(flat - start[v], acts[v].shape[2] * acts[v].shape[3])
        i, j = divmod(rest, acts[v].shape[3])
        box = fields[v].box(i, j)
        side = views[v].shape[-2]
        unit = tuple(b / side for b in box)          # in fractions of the view: comparable across sizes
        if overlap < 1 and any(_iou(unit, u) > overlap for u in taken.get(n, [])):
            continue
        taken.setdefault(n, []).append(unit)
        picks.append((float(values[flat]), n, v, (i, j), box))
        if len(picks) == k:
            break
    size = max(fields[v].size for _, _, v, _, _ in picks)
    crops = torch.stack([_crop(views[v][n], box) if fields[v].size == size else
                         torch.nn.functional.interpolate(_crop(views[v][n], box)[None], size=(size, size),
                                                         mode="bilinear", align_corners=False)[0]
                         for _, n, v, _, box in picks])
    return DatasetExamples(layer=layer, channel=c, field=fields[picks[0][2]], crops=crops,
                           values=torch.tensor([p[0] for p in picks]), sources=[p[1] for p in picks],
                           image_sizes=[views[p[2]].shape[-2] for p in picks], positions=[p[3] for p in picks],
                           boxes=[p[4] for p in picks])


__all__ = ["Field", "DatasetExamples", "receptive_field", "default_pool", "layer_activations", "dataset_examples",
           "POOL_SIZES"]
