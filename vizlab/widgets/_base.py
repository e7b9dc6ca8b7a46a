"""Shared pieces of the explorers: compute once, re-render cheaply.

An explorer is (1) a compute function whose result is cached per input, (2) a render function
that turns the cached result plus the control values into an RGB array, and (3) ipywidgets
controls. The picture is an ``ipywidgets.Image`` fed PNG bytes: re-encoding a small PNG takes a
few milliseconds, redrawing a matplotlib figure takes a hundred.
"""
from __future__ import annotations

import numpy as np

from .. import plot


def image_widget(array: np.ndarray, width: int = 448):
    """An ``ipywidgets.Image`` showing ``array`` (H x W [x 3] in [0, 1]), displayed ``width`` px wide."""
    import ipywidgets as w
    return w.Image(value=plot.to_png(array), format="png", layout=w.Layout(width=f"{width}px"))


def update_image(widget, array: np.ndarray) -> None:
    """Replace the picture in an ``image_widget``."""
    widget.value = plot.to_png(array)


class Explorer:
    """The display plumbing every explorer shares: ``explorer.widget`` builds the ipywidgets box
    on first use (``_build()`` returns it), and a notebook cell ending in ``explorer`` shows it."""

    _controls = None

    @property
    def widget(self):
        """The ipywidgets box (built on first use)."""
        if self._controls is None:
            self._controls = self._build()
        return self._controls

    def _build(self):
        raise NotImplementedError

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
