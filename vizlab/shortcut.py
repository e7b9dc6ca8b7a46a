"""The dataset-bias experiment of chapter 03: does a network learn the digit, or a shortcut?

``vizlab.load("digits_cnn_biased")`` was trained on digits stamped with a small bright square whose
position in the top margin encodes the label (``vizlab.digits.add_marker``) -- the "wolf vs husky on
snow" story of Ribeiro et al., "Why should I trust you?", KDD 2016. This module measures the
shortcut, against the clean ``digits_cnn`` as the control:

* ``bias_report(biased, clean)`` -- accuracy with the marker at the label's place, without it, with
  it moved to another class's place (and how often the prediction follows it), and how much of the
  saliency / Grad-CAM mass sits on the marker;
* ``marker_share(maps, positions)`` -- the share of a map's mass inside the marker's box.

It sits above ``vizlab.digits`` (the model, data and training) and the explanation methods it
uses (``vizlab.attribution``, ``vizlab.cam``); none of them imports it.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .attribution import saliency
from .cam import grad_cam
from .digits import Split, _positions, accuracy, add_marker, load_split, marker_box


def marker_share(maps: torch.Tensor, positions) -> torch.Tensor:
    """For each map ``[N, H, W]`` or ``[N, C, H, W]`` (any sign), the share of ``sum |map|`` that lies
    in marker ``positions[n]``'s box: 9 / 1024 = 0.9 % for a map spread evenly over the frame."""
    m = maps.detach().abs()
    if m.ndim == 4:
        m = m.sum(1)
    pos = _positions(positions, m.shape[0], none_allowed=False)
    inside = torch.stack([m[n, t:b, l:r].sum() for n, (t, b, l, r) in
                          enumerate(marker_box(p) for p in pos)])
    return inside / m.flatten(1).sum(1).clamp_min(1e-12)


def bias_report(biased: nn.Module, clean: nn.Module, split: Optional[Split] = None) -> dict:
    """The shortcut in numbers, over the test split, for the biased and the clean (control) model:
    accuracy with the marker at the label's place, without it, with it moved to the next class's
    place (and how often the prediction follows it); mean share of saliency and of Grad-CAM (at
    ``relu3``) that falls on the marker, explaining the true class of marked images."""
    split = split or load_split()
    x, y = split.x_test, split.y_test
    marked, moved = add_marker(x, y), add_marker(x, (y + 1) % 10)
    report = {}
    for name, model in (("biased", biased), ("clean", clean)):
        report[name] = {
            "with marker": accuracy(model, marked, y), "no marker": accuracy(model, x, y),
            "moved marker": accuracy(model, moved, y), "follows moved": accuracy(model, moved, (y + 1) % 10),
            "saliency on marker": float(marker_share(saliency(model, marked, y.tolist()), y).mean()),
            "grad-cam on marker": float(marker_share(grad_cam(model, marked, y.tolist(), layer="relu3"), y).mean()),
        }
    return report


__all__ = ["bias_report", "marker_share"]
