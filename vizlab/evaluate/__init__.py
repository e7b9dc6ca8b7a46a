"""Evaluating explanations: which of a dozen pictures of the same decision should you trust?

Three families of tests, each a few lines of PyTorch:

* **Sanity checks** (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
  re-initialise the model's weights from the top, layer by layer (*cascading*), or one layer
  at a time (*independent*), and compare each map with the trained model's map. A method whose
  map hardly changes is not explaining what the model learned. ``randomize`` and ``sanity_check``.
* **Faithfulness** (Petsiuk, Das & Saenko, "RISE", BMVC 2018): ``deletion`` removes pixels in
  the order of the map (most important first) and records the class probability ``p_k`` after
  each step; ``insertion`` adds them, in the same order, onto a blurred copy. The area under each
  curve, ``auc(p) = 1/K * sum_k (p_k + p_{k+1}) / 2`` (trapezoids over ``K`` steps on [0, 1]), is
  low for a good map under deletion and high under insertion.
* **Localisation**: the pointing game (Zhang et al., "Top-down Neural Attention by Excitation
  Backprop", ECCV 2016) -- is the map's maximum inside the object's box? -- and the
  energy-based pointing game (Wang et al., "Score-CAM", CVPR workshops 2020) -- which fraction
  ``sum_{ij in box} m_ij / sum_ij m_ij`` of the map lies inside the box?

One call shape: every metric takes a method by name (``"grad_cam"``, ``"saliency"``, ... see
``METHODS``; the baselines ``"random"`` and ``"centre"``), or any function ``f(model, x,
target, **options)`` returning a map ``[N, H, W]`` or an attribution ``[N, C, H, W]``, or a
precomputed map tensor. ``explain`` turns any of them into one map ``[N, H, W]`` per image.

The package has one module per family: ``sanity`` (model randomisation, similarities),
``faithfulness`` (deletion, insertion, AUC), ``localisation`` (pointing games, boxes), ``annotations``
(the hand-drawn boxes of the sample photos), ``maps`` (methods by name, the baselines, ``explain``)
and ``leaderboard`` (every method x every metric over the annotated items: chapter 12's table). Every
public name is re-exported here: ``vizlab.evaluate.deletion`` is ``vizlab.evaluate.faithfulness.deletion``.

Every function leaves the model as it found it (``randomize`` works on a copy); randomness
comes only from a ``torch.Generator`` passed in -- ``generator=None`` means a fresh generator
seeded with 0, so a call without one is repeatable and never draws from (or advances) the
global torch random state.
"""
from __future__ import annotations

from .annotations import annotated_inputs, annotations_path
from .faithfulness import (auc, blur, curve_fractions, deletion, insertion, order, perturbation_curve,
                           substrate)
from .leaderboard import leaderboard, score, summary
from .localisation import Box, box_mask, energy_pointing_game, half_share, pointing_game
from .maps import (BASELINES, METHODS, MethodLike, centre_map, explain, get_method, method_label,
                   random_map, to_map)
from .sanity import (SIMILARITIES, hog_similarity, randomizable_layers, randomize, reset_layer,
                     pearson, sanity_check, similarity, spearman, ssim)

__all__ = ["METHODS", "BASELINES", "get_method", "explain", "to_map", "random_map", "centre_map",
           "randomizable_layers", "randomize", "reset_layer", "sanity_check", "similarity", "pearson", "spearman",
           "ssim", "hog_similarity", "SIMILARITIES", "blur", "substrate", "order", "perturbation_curve", "deletion",
           "insertion", "auc", "curve_fractions", "box_mask", "pointing_game", "energy_pointing_game",
           "half_share", "annotated_inputs", "annotations_path", "method_label", "leaderboard", "score", "summary"]
