"""CamExplorer: photo x method x class (from the top 5) x layer, with an opacity slider.

Compute once per (photo, method, class, layer): the map is cached, so moving the opacity
slider only blends the cached map over the photo and encodes a small PNG.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .. import data, models, plot
from .. import cam as _cam
from ..hooks import capture
from ._base import Explorer, image_widget, legend, update_image, warn

__all__ = ["CamExplorer"]

# Every CAM method (vizlab.methods), Grad-CAM first
DEFAULT_METHODS = ("grad_cam", *(m for m in _cam.METHODS if m != "grad_cam"))


class CamExplorer(Explorer):
    """Which part of the photo made the network say *this* class? Pick the method, the class
    (one of the top 5), the layer and the overlay opacity.

    ``image`` is a photo (path / PIL / array), a sample name such as ``"chelsea"``, or a dict
    ``{name: photo}`` to offer several photos. ``render(photo, method, class_index, layer, alpha)``
    returns the RGB array the widget shows. ``method_options`` are passed to the CAM functions,
    e.g. ``{"score_cam": {"batch_size": 32}}``. Score-CAM runs one forward pass per channel of
    the layer: slow at a 1280-channel layer, so it is computed only when selected.
    """

    def __init__(self, model: nn.Module, image, methods: Sequence[str] = DEFAULT_METHODS,
                 layers: Optional[Sequence[str]] = None, method_options: Optional[Mapping[str, dict]] = None,
                 top: int = 5, width: int = 336):
        self.model = model
        for m in methods:
            _cam.get_method(m)  # a clear error for an unknown name
        self.methods = list(methods)
        default = models.default_cam_layer(model)
        self.layers = list(layers) if layers is not None else [default]
        for name in self.layers:
            models.find_layer(model, name)
        self.method_options = {k: dict(v) for k, v in (method_options or {}).items()}
        self.top, self.width = top, width
        self._photos: dict[str, torch.Tensor] = {}
        self._pictures: dict[str, np.ndarray] = {}
        self._predictions: dict[str, list] = {}
        self._maps: dict[tuple, np.ndarray] = {}
        self._controls = None
        photos = image if isinstance(image, Mapping) else {self._label(image): image}
        for label, photo in photos.items():
            self.add_photo(label, photo)

    @staticmethod
    def _label(image) -> str:
        return image if isinstance(image, str) else "photo"

    def add_photo(self, label: str, image) -> None:
        """Offer another photo (preprocessed and predicted once)."""
        if isinstance(image, torch.Tensor):
            x = image
        else:
            if isinstance(image, str) and image in data.list_samples():
                image = data.sample_image(image)
            x = data.preprocess(image, self.model)
        self._photos[label] = x
        self._pictures[label] = data.deprocess(x, self.model)
        self._predictions[label] = models.predict(self.model, x, self.top)
        if self._controls is not None:
            self.photo.options = list(self._photos)

    def predictions(self, photo: str) -> list:
        """The top-``top`` predictions for a photo: ``[Prediction(index, name, probability)]``."""
        return self._predictions[photo]

    # -- compute (once per photo, method, class, layer) ------------------------------------------
    def heatmap(self, photo: str, method: str, class_index: int, layer: str) -> np.ndarray:
        """The cached CAM (``H x W``, min-max'ed to [0, 1])."""
        key = (photo, method, int(class_index), layer)
        if key not in self._maps:
            fn = _cam.get_method(method)
            options = dict(self.method_options.get(method, {}))
            if method == "score_cam":      # one pass per channel: "k/K channels" while it runs
                options.setdefault("progress", self._channel_progress)
            m = fn(self.model, self._photos[photo], int(class_index), layer, normalize=True, **options)
            self._maps[key] = m[0].numpy()
        return self._maps[key]

    def _channel_progress(self, done: int, total: int) -> None:
        """Score-CAM's progress callback: inside ``busy``, the message ends in ``done/total channels``."""
        self.progress(done, total, "channels")

    # -- render (every slider move) -------------------------------------------------------------
    def render(self, photo: str, method: str, class_index: int, layer: str, alpha: float = 0.5) -> np.ndarray:
        """The picture for these control values: ``H x W x 3`` floats in [0, 1]."""
        return plot.blend(self._pictures[photo], self.heatmap(photo, method, class_index, layer), alpha)

    def cost(self, method: str, layer: str) -> str:
        """What computing ``method`` at ``layer`` takes, in passes (for the busy message)."""
        if method == "score_cam":
            channels = capture(self.model, next(iter(self._photos.values())), [layer]).activations[layer].shape[1]
            return f"one masked forward pass per channel of {layer} (up to {channels}): this takes a while"
        if method == "smooth_grad_cam_pp":
            options = self.method_options.get(method, {})
            n = options.get("samples", options.get("n_samples", 16))
            return f"{n} noisy forward + backward passes"
        if method == "cam":
            return "one forward pass"
        return "one forward + backward pass"

    # -- controls -------------------------------------------------------------------------------
    def _method_options(self) -> list:
        return [(f"{m} (slow: one pass per channel)" if m == "score_cam" else m, m) for m in self.methods]

    def _class_options(self, photo: str) -> list:
        return [(f"{p.name} ({p.probability:.0%})", p.index) for p in self.predictions(photo)]

    def _build(self):
        import ipywidgets as w
        first = next(iter(self._photos))
        wide, row = {"description_width": "60px"}, w.Layout(width="330px")
        self.photo = w.Dropdown(options=list(self._photos), value=first, description="photo", style=wide, layout=row)
        self.method = w.Dropdown(options=self._method_options(), value=self.methods[0], description="method",
                                 style=wide, layout=row)
        self.target = w.Dropdown(options=self._class_options(first), description="class", style=wide, layout=row)
        self.layer = w.Dropdown(options=self.layers, value=self.layers[0], description="layer", style=wide, layout=row)
        self.alpha = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="opacity",
                                   continuous_update=True, style=wide)
        self.info = w.HTML()
        self.legend = w.HTML(legend("jet", "none", "strongest", "evidence for the class (each map min-max scaled):",
                                    width=224))
        self.picture = image_widget(self._pictures[first], self.width)
        self.photo.observe(self._photo_changed, names="value")
        for control in (self.method, self.target, self.layer, self.alpha):
            control.observe(lambda change: self._refresh(), names="value")
        self._controls = w.VBox([w.HBox([self.photo, self.method]), w.HBox([self.target, self.layer]),
                                 self.alpha, self.picture, self.legend, self.info])
        self._refresh()
        return self._controls

    def _photo_changed(self, change) -> None:
        self.target.options = self._class_options(self.photo.value)  # also fires _refresh
        self._refresh()

    def _refresh(self) -> None:
        if self.target.value is None:
            return
        args = (self.photo.value, self.method.value, self.target.value, self.layer.value)
        try:
            if (args[0], args[1], int(args[2]), args[3]) not in self._maps:
                with self.busy(f"computing {args[1]} at {args[3]}: {self.cost(args[1], args[3])}..."):
                    self.heatmap(*args)
            update_image(self.picture, self.render(*args, alpha=self.alpha.value))
            self.info.value = (f"{self.method.value} for <b>{models.class_name(self.model, self.target.value)}</b> "
                               f"at <code>{self.layer.value}</code>")
        except ValueError as err:  # e.g. CAM at a layer that is not followed by GAP + linear
            update_image(self.picture, self._pictures[self.photo.value])
            self.info.value = warn(str(err))
