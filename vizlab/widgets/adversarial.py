"""Explorer for chapter 10: epsilon x method x photo -> the adversarial image, its perturbation
magnified, and the top-5 classes before and after.

Every (photo, method, eps) is attacked once and cached; moving a control back to a setting seen
before only re-encodes a PNG.
"""
from __future__ import annotations

import math
import numbers
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .. import adversarial as adv
from .. import data, methods as registry
from ..hooks import check_count, eval_mode
from ..models import class_name
from ._base import Explorer, image_widget, update_image

__all__ = ["AdversarialExplorer", "METHODS"]

# The attacks (vizlab.methods) and the control: random signs of the same size
METHODS = (*registry.names(kind="attack"), "noise")


def _rgb(p: torch.Tensor) -> np.ndarray:
    """Pixels ``[1, C, H, W]`` in [0, 1] -> ``H x W x 3`` (grey repeated)."""
    a = p[0].detach().float().cpu()
    if a.shape[0] == 1:
        a = a.expand(3, -1, -1)
    return a.permute(1, 2, 0).numpy()


def _side_by_side(*pictures: np.ndarray, gap: int = 4) -> np.ndarray:
    white = np.ones((pictures[0].shape[0], gap, 3), dtype=np.float32)
    parts = []
    for pic in pictures:
        parts += [pic.astype(np.float32), white]
    return np.concatenate(parts[:-1], axis=1)


def _eps(e, allow_zero: bool = False) -> float:
    """One budget in 1/255 pixel units: a finite number in (0, 255] (0 too where it means the clean photo)."""
    if isinstance(e, bool) or not isinstance(e, numbers.Real) or not math.isfinite(e) \
            or not (0 <= e if allow_zero else 0 < e) or e > 255:
        raise ValueError(f"eps is in 1/255 pixel units (8 means 8/255) and must be in {'[' if allow_zero else '('}0, "
                         f"255], got {e!r}")
    return float(e)


def _eps_values(values) -> list:
    given = list(values) if isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, (str, bytes)) else []
    if not given:
        raise ValueError(f"eps_values must be a non-empty list of budgets in 1/255 units, e.g. (0.5, 1, 2, 4), "
                         f"got {values!r}")
    return [_eps(e) for e in given]


def _photo(name, p, model: nn.Module) -> torch.Tensor:
    """One photo of the explorer: pixels [1, C, H, W] in [0, 1] that the model takes."""
    if not isinstance(p, torch.Tensor):
        raise ValueError(f"photo {name!r}: expected pixels as a tensor [1, C, H, W] in [0, 1], got {type(p).__name__}")
    if p.ndim != 4 or p.shape[0] != 1:
        raise ValueError(f"photo {name!r}: an explorer shows one image [1, C, H, W], got {tuple(p.shape)}")
    try:
        return adv._check_pixels(p.detach(), model)
    except ValueError as err:
        raise ValueError(f"photo {name!r}: {err}") from None


class AdversarialExplorer(Explorer):
    """Pick a photo, an attack and a budget eps (in 1/255 pixel units): ``render(photo, method, eps)``
    returns ``[clean | adversarial | perturbation magnified to +-eps]``; ``top5(photo, method, eps)``
    the five most probable classes of the adversarial image (``eps=0``: of the clean one).

    ``method``: ``"fgsm"``, ``"pgd"`` (L-inf, ``pgd_steps`` steps, no random start) or ``"noise"``
    (random signs of the same L-inf size, drawn from a generator seeded with ``seed``: the control).
    The label attacked is the model's top-1 class on the clean photo.
    ``photos``: sample names (``vizlab.list_samples()``) or ``{name: pixels [1, C, H, W] in [0, 1]}``.
    ``eps_values``: the slider's budgets in 1/255 pixel units (``8`` is ``8/255``), each in (0, 255].
    """

    width = 672

    def __init__(self, model: nn.Module, photos: Union[Sequence[str], Mapping[str, torch.Tensor]],
                 eps_values: Sequence[float] = (0.5, 1, 2, 4), methods: Sequence[str] = METHODS,
                 pgd_steps: int = 5, seed: int = 0):
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected a torch.nn.Module as the model, got {type(model).__name__}"
                            + ("; load it first: vizlab.load(name)" if isinstance(model, str) else ""))
        methods = [methods] if isinstance(methods, str) else list(methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"methods must be among {METHODS}, not {unknown or 'an empty list'}")
        self.model, self.methods = model, methods
        self.pgd_steps, self.seed = check_count("pgd_steps", pgd_steps), check_count("seed", seed, 0)
        self.eps_values = _eps_values(eps_values)
        if isinstance(photos, Mapping):
            self.pixels = {name: _photo(name, p, model) for name, p in photos.items()}
        else:
            photos = [photos] if isinstance(photos, str) else list(photos)
            self.pixels = {name: adv.pixels(data.preprocess(data.sample_image(name), model), model) for name in photos}
        if not self.pixels:
            raise ValueError("photos is empty; pass sample names (vizlab.list_samples()) or {name: pixels [1, C, H, W]}")
        self.names = list(self.pixels)
        self._net = adv.pixel_model(model)
        self._labels = {name: self._probs(p).argmax(1) for name, p in self.pixels.items()}
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _probs(self, p: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.model), torch.no_grad():
            return adv._logits(self._net, p).softmax(1)

    def adversarial(self, photo: str, method: str, eps: float) -> torch.Tensor:
        """The attacked pixels ``[1, C, H, W]`` for ``eps`` in 1/255 units (cached)."""
        return self._result(photo, method, eps)[0]

    def _result(self, photo: str, method: str, eps: float):
        if photo not in self.pixels:
            raise KeyError(f"no photo {photo!r} in this explorer; photos: {', '.join(map(repr, self.names))}")
        eps = _eps(eps, allow_zero=True)
        key = (photo, method, float(eps))
        if key not in self._cache:
            p, label, e = self.pixels[photo], self._labels[photo], float(eps) / 255
            if e == 0:
                out = p
            elif method == "noise":
                out = (p + e * adv.random_sign(p, torch.Generator().manual_seed(self.seed))).clamp(0, 1)
            else:
                attack = registry.function(method, METHODS[:-1], "attack")
                out = attack(self.model, p, label, e, **({"steps": self.pgd_steps} if method == "pgd" else {}))
            self._cache[key] = (out, self._probs(out)[0])
        return self._cache[key]

    def top5(self, photo: str, method: str, eps: float) -> list[tuple[str, float]]:
        probs = self._result(photo, method, eps)[1]
        top = probs.topk(min(5, probs.numel()))
        return [(class_name(self.model, int(i)), float(v)) for v, i in zip(top.values, top.indices)]

    def render(self, photo: str, method: str, eps: float) -> np.ndarray:
        a = self.adversarial(photo, method, eps)   # first: it names an unknown photo
        p = self.pixels[photo]
        delta = adv.magnify(a - p, max(float(eps), 1e-6) / 255)
        return _side_by_side(_rgb(p), _rgb(a), _rgb(delta))

    def _build(self):
        import ipywidgets as w
        self.photo = w.Dropdown(options=self.names, value=self.names[0], description="photo")
        self.method = w.ToggleButtons(options=self.methods, value=self.methods[0], description="attack")
        self.eps = w.SelectionSlider(options=[(f"{e:g}/255", e) for e in self.eps_values],
                                     value=self.eps_values[0], description="eps")
        controls = [self.photo, self.method, self.eps]
        self.picture = image_widget(self._current(), self.width)
        self.info = w.HTML()
        for c in controls:
            c.observe(lambda change: self._refresh(), names="value")
        box = w.VBox([w.HBox(controls[:1] + controls[2:]), self.method, self.picture, self.info])
        self._controls = box
        self._refresh()
        return box

    def _current(self) -> np.ndarray:
        return self.render(self.photo.value, self.method.value, self.eps.value)

    def _refresh(self) -> None:
        update_image(self.picture, self._current())
        photo, method, eps = self.photo.value, self.method.value, self.eps.value
        fmt = lambda top: ", ".join(f"{n} {v:.2f}" for n, v in top)
        self.info.value = (f"<b>clean</b>: {fmt(self.top5(photo, method, 0))}<br>"
                           f"<b>{method}, eps {eps:g}/255</b>: {fmt(self.top5(photo, method, eps))}<br>"
                           "left to right: clean, attacked, perturbation magnified (grey = 0, white = +eps, black = -eps)")
