"""Feature visualisation by optimisation: make an image that a network responds to.

Split four ways, as in Lucid/Lucent (Olah et al., "Feature Visualization", Distill 2017):

* ``objectives`` -- what to maximise; one score per image, added and scaled like numbers::

      from vizlab.optvis import objectives as O
      obj = O.channel("blocks.5", 7) - 0.05 * O.total_variation()

  ``channel``, ``neuron``, ``layer_l2`` (= ``deepdream``), ``class_logit``, ``direction``,
  ``diversity``, ``channels`` (image i of a batch -> channel cs[i]), priors ``l2`` and
  ``total_variation`` on ``"image"``, and ``feature_match(layer, target)`` (a relative error, to
  subtract). ``class_logit`` also takes a class name (``"tabby"``), looked up in the rendered
  model's names; weights must be finite numbers.
  Your own: ``O.Objective(lambda acts: ..., "name", layers=["blocks.3"])`` where
  ``acts[layer]`` is that layer's output, ``acts["logits"]`` the model's, ``acts["image"]`` the
  [0, 1] image before transforms; return a tensor ``[N]``.
* ``param`` -- how the image is represented: ``pixels(size, ...)``, ``fft(size, ...)`` (1/f
  scaled spectrum), ``decorrelate=True`` (Lucid's colour matrix), ``valid="sigmoid" | "clip" |
  None``, ``batch=N``, ``generator=`` (None: seed 0, never the global RNG); ``pixels(init=img)``
  starts from an image (float pixels in [0, 1]; style transfer).
  ``p()`` is the image ``N x 3 x H x W`` in [0, 1]; ``p.parameters()`` what the optimiser changes.
* ``transforms`` -- ``pad``, ``jitter``, ``random_scale``, ``random_rotate``, ``blur``, ``compose``,
  ``standard()``; each ``t(x, generator)``, differentiable, random only through ``generator``
  (None: a seed-0 generator).
* ``render(model, objective, param=, transforms=, steps=, optimizer="adam"|"sgd"|"normalized"|"lbfgs"|factory,
  lr=, generator=, progress=True, post_step=None) -> (images, history)``: images ``N x 3 x H x W``
  in [0, 1] (the model's normalisation is applied inside), history ``[steps, N]`` (scores before
  each step). Maximises. The model is left exactly as found (eval mode for the call; no hooks,
  flags or ``.grad`` left); it works inside ``torch.no_grad()``/``inference_mode()``, and warns
  (``ZeroGradientWarning``) when an image's gradient was exactly zero at every step (a dead channel).
  The image is normalised with the model's mean/std, made grey for a 1-channel model (``digits_cnn``)
  and cast to the model's dtype. ``score(model, objective, images)`` evaluates float pixels in
  [0, 1] without transforms.
* ``invert(model, x, layer, steps=, tv_weight=, l2_weight=, ...)`` -- feature inversion
  (Mahendran & Vedaldi 2015): an image whose ``layer`` features match the photo ``x``'s.

A minimal run::

    import torch, vizlab as vz
    from vizlab import optvis
    model = vz.load()
    g = torch.Generator().manual_seed(0)
    imgs, hist = optvis.render(model, optvis.objectives.channel("blocks.5", 7),
                               param=optvis.param.fft(96, generator=g), steps=64, generator=g)
"""
from . import objectives, param, transforms
from .render import NormalizedAscent, ZeroGradientWarning, invert, make_optimizer, render, score

__all__ = ["objectives", "param", "transforms", "render", "invert", "score", "make_optimizer", "NormalizedAscent",
           "ZeroGradientWarning"]
