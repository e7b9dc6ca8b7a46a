"""The one list of vizlab's explanation methods and attacks: what each is called and where it lives.

Everything that offers a choice of method reads this table: ``vz.<name>`` (``vizlab/__init__.py``),
``vizlab explain --method`` (``cli.py``), the explorers' method buttons (``widgets/``),
``vizlab.cam.get_method``, ``vizlab.evaluate.get_method`` and the tests that run every method.
Adding a method is therefore two edits: its function in its family module (a CAM variant is its
channel-weight rule in ``cam.py``) and one line below. ``CONTRIBUTING.md`` has the steps.

A row names the function by module and name instead of importing it: this module sits at the bottom
of the package (it imports nothing from vizlab), so that ``cam.py`` and ``attribution.py`` can read
their own rows without an import circle. ``Method.function()`` imports the module on first use.

Call shapes (one per kind):

=============== ===================================================== ===============================
kind            call                                                  returns
=============== ===================================================== ===============================
``attribution`` ``f(model, x, target=None, **options)``               ``[N, C, H, W]``, one value per
                                                                      input pixel and channel
``map``         ``f(model, x, target=None, layer=None, **options)``   ``[N, H, W]`` (CAM-like, from a
                                                                      layer's activations)
``attack``      ``f(model, p, label=None, eps=..., **options)``       adversarial pixels ``[N, C, H, W]``
=============== ===================================================== ===============================
"""
from __future__ import annotations

import difflib
import importlib
from typing import Callable, NamedTuple, Optional

__all__ = ["Method", "REGISTRY", "names", "get", "function"]


class Method(NamedTuple):
    name: str            # the public name: vz.<name>, --method <name>, get_method("<name>")
    module: str          # the vizlab module that defines the function
    kind: str            # "attribution", "map" or "attack" (see the table above)
    layer: bool          # explains at a layer: takes ``layer=`` (None = the model's default CAM layer)
    cost: str            # what one call costs, for a student choosing a method
    chapter: str         # where the course teaches it
    attr: Optional[str] = None   # the function's name in its module, when it is not ``name``
    exported: bool = True        # vz.<name> is this function (False: the name means something else there)

    def function(self) -> Callable:
        """The function itself (imports its module on first use)."""
        return getattr(importlib.import_module(f"vizlab.{self.module}"), self.attr or self.name)


# One line per method, in the order the course teaches them.
REGISTRY: dict[str, Method] = {m.name: m for m in [
    Method("deconvnet", "attribution", "attribution", False, "1 backward", "02"),
    Method("saliency", "attribution", "attribution", False, "1 backward", "03"),
    Method("grad_x_input", "attribution", "attribution", False, "1 backward", "03"),
    Method("guided_backprop", "attribution", "attribution", False, "1 backward", "03"),
    Method("cam", "cam", "map", True, "1 forward", "05", exported=False),           # vz.cam is the module
    Method("grad_cam", "cam", "map", True, "1 backward", "06"),
    Method("grad_cam_pp", "cam", "map", True, "1 backward", "06"),
    Method("smooth_grad_cam_pp", "cam", "map", True, "n_samples backwards", "06"),
    Method("score_cam", "cam", "map", True, "1 forward per channel", "06b"),
    Method("layer_cam", "cam", "map", True, "1 backward", "06b"),
    Method("guided_grad_cam", "cam", "attribution", True, "2 backwards", "06b"),
    Method("occlusion", "perturbation", "attribution", False, "1 forward per window position", "06b"),
    # vz.smoothgrad is the wrapper smoothgrad(method, ...); the method "smoothgrad" is SmoothGrad of the gradient
    Method("smoothgrad", "attribution", "attribution", False, "samples backwards", "07", attr="smoothgrad_saliency",
           exported=False),
    Method("integrated_gradients", "attribution", "attribution", False, "steps backwards", "08"),
    Method("fgsm", "adversarial", "attack", False, "1 backward", "10"),
    Method("pgd", "adversarial", "attack", False, "steps backwards", "10"),
]}


def names(kind: Optional[str] = None, module: Optional[str] = None) -> tuple[str, ...]:
    """The registered names, in teaching order, optionally of one ``kind`` or from one ``module``."""
    if kind is not None and kind not in {"attribution", "map", "attack"}:
        raise ValueError(f"kind must be 'attribution', 'map' or 'attack', not {kind!r}")
    return tuple(m.name for m in REGISTRY.values()
                 if (kind is None or m.kind == kind) and (module is None or m.module == module))


def get(name: str, choices: Optional[tuple[str, ...]] = None, what: str = "method") -> Method:
    """The row of ``name`` (one of ``choices``, default every name), with a did-you-mean error otherwise."""
    choices = names() if choices is None else choices
    if not isinstance(name, str):
        raise TypeError(f"a {what} is given by its name, such as {choices[0]!r}; got {type(name).__name__}")
    if name not in choices:
        close = difflib.get_close_matches(name, choices, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown {what} {name!r}.{hint} Available: {', '.join(choices)}")
    return REGISTRY[name]


def function(name: str, choices: Optional[tuple[str, ...]] = None, what: str = "method") -> Callable:
    """The function registered as ``name`` (see ``get``)."""
    return get(name, choices, what).function()
