"""vizlab: open the CNN black box, one chapter at a time.

    import vizlab as vz
    model = vz.load()                                   # EfficientNet-Lite0, ImageNet, offline
    x = vz.preprocess(vz.sample_image("chelsea"), model)
    vz.predict(model, x)                                # top-5 classes
    maps = vz.capture(model, x, ["stem", "blocks.5"])   # what two layers computed

Importing vizlab imports torch (and the exercises' grader, which needs only torch and numpy) and nothing heavier: the modules that need matplotlib,
ipywidgets or scikit-learn (``plot``, ``widgets``, ``embed`` ...) load on first use.
"""
from __future__ import annotations

import importlib

from .data import deprocess, list_samples, load_image, preprocess, sample_image
from .hooks import Captured, capture
from .models import class_index, class_name, default_cam_layer, find_layer, info, layers, load, predict
# The exercises' grader captures the functions it relies on when it is imported: import it with vizlab, before
# any notebook cell can change numpy or torch (it needs only those two).
from . import exercises  # noqa: E402,F401
from . import methods  # the list of methods: names only, it imports nothing

__version__ = "0.1.0"

# Submodules loaded on first attribute access (vz.plot, vz.cam, ...), and the functions they provide.
_SUBMODULES = ["models", "data", "hooks", "targets", "features", "attribution", "cam", "plot", "widgets", "cli",
               "exercises", "exercise_nets", "optvis", "digits", "shortcut", "adversarial", "evaluate", "style",
               "embed", "lookup", "perturbation", "methods", "exemplars"]
# Every explanation method and attack: vz.<name> (vizlab.methods is the one list; vz.cam stays the module).
_LAZY = {m.name: m.module for m in methods.REGISTRY.values() if m.exported}
# The other functions offered at the top level, by the submodule that provides them.
_LAZY_FUNCTIONS = {
    "features": ["feature_maps", "sparsity", "channel_stats", "first_layer_filters", "layer_statistics"],
    "attribution": ["neuron_gradient", "smoothgrad"],
    "adversarial": ["fooling_image"],
    "evaluate": ["deletion", "insertion", "pointing_game", "energy_pointing_game", "sanity_check"],
    "exemplars": ["dataset_examples"],
}
_LAZY.update({name: module for module, names in _LAZY_FUNCTIONS.items() for name in names})


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'vizlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_LAZY))


__all__ = ["load", "info", "predict", "layers", "find_layer", "default_cam_layer", "class_name", "class_index",
           "sample_image", "list_samples", "load_image", "preprocess", "deprocess", "capture", "Captured",
           *_LAZY]
