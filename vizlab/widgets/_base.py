"""Shared pieces of the explorers: compute once, re-render cheaply, and tell the student what is going on.

An explorer is (1) a compute function whose result is cached per input, (2) a render function
that turns the cached result plus the control values into an RGB array, and (3) ipywidgets
controls. The picture is an ``ipywidgets.Image`` fed PNG bytes: re-encoding a small PNG takes a
few milliseconds, redrawing a matplotlib figure takes a hundred.

What every explorer gets from ``Explorer`` (subclasses only implement ``_build()``):

* a readable ``text/plain`` ("FeatureMapExplorer -- run this cell to interact") wherever the
  widget cannot be drawn (an untrusted notebook, a plain console, a text diff);
* ``with self.busy("computing Score-CAM ..."):`` -- shows the message in ``self.info`` and dims
  ``self.picture`` *at once* (the kernel sends the change before the slow work starts), then
  restores the picture; ``self.progress(i, n)`` updates the message inside a many-pass loop;
* ``legend(cmap, low, high)``: a colour bar as a small HTML strip, to put under the picture.

Conventions the helpers rely on: the explorer's picture is ``self.picture`` (made by
``image_widget``) and its message line is ``self.info`` (an ``ipywidgets.HTML``).
"""
from __future__ import annotations

import contextlib
import html
from typing import Iterator

import numpy as np

from .. import plot

BUSY_CLASS = "vizlab-busy"
# One style element per explorer: a dimmed picture while the kernel computes (a CSS class, so
# dimming costs no PNG), and pixels drawn as pixels when a small map is shown enlarged.
STYLE = (f"<style>.{BUSY_CLASS} {{opacity: 0.35; transition: opacity 0.1s;}} "
         ".vizlab-picture img {image-rendering: pixelated;} "
         ".vizlab-label {text-align: right; padding-right: 8px; box-sizing: border-box;}</style>")


def display_scale(array: np.ndarray, width: int) -> int:
    """The integer magnification that fits ``array`` into ``width`` pixels (at least 1): pictures
    are shown at their own size or an exact multiple, never stretched by a fraction (soft)."""
    return max(1, int(width) // max(1, int(array.shape[1])))


def _png_and_width(array: np.ndarray, width: int) -> tuple[bytes, int]:
    scale = display_scale(array, width)
    return plot.to_png(array, scale=scale), min(array.shape[1] * scale, int(width))


def image_widget(array: np.ndarray, width: int = 448):
    """An ``ipywidgets.Image`` showing ``array`` (H x W [x 3] in [0, 1]) at most ``width`` px wide,
    enlarged by a whole factor (nearest neighbour) rather than stretched by the browser."""
    import ipywidgets as w
    png, shown = _png_and_width(array, width)
    picture = w.Image(value=png, format="png", layout=w.Layout(width=f"{shown}px", max_width="100%"))
    picture._vizlab_width = int(width)
    picture.add_class("vizlab-picture")
    return picture


def update_image(widget, array: np.ndarray) -> None:
    """Replace the picture in an ``image_widget`` (same rule for its displayed size)."""
    width = getattr(widget, "_vizlab_width", None)
    if width is None:                      # an Image made elsewhere: the bytes only
        widget.value = plot.to_png(array)
        return
    widget.value, shown = _png_and_width(array, width)
    widget.layout.width = f"{shown}px"


def inline_label(control, width: str = "80px"):
    """``control`` with its description as a right-aligned label on the same line (an ``HBox``).
    A ToggleButtons' own description wraps above its buttons at common notebook widths; this keeps
    the label beside them. Observe ``control`` as before; put the returned box in the layout."""
    import ipywidgets as w
    text = control.description
    if not text:
        return control
    control.description = ""
    label = w.Label(text, layout=w.Layout(width=width, min_width=width))
    label.add_class("vizlab-label")
    return w.HBox([label, control], layout=w.Layout(align_items="center"))


def legend(cmap: str, low: str, high: str, title: str = "", width: int = 240, middle: str = "") -> str:
    """A colour bar as HTML: a ``width`` px strip of the matplotlib colour map ``cmap``, labelled
    ``low`` at its left end, ``high`` at its right end (and ``middle`` under its centre)."""
    import matplotlib
    colours = matplotlib.colormaps[cmap](np.linspace(0, 1, 11))
    stops = ", ".join(f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)}) {k * 10}%"
                      for k, (r, g, b, _) in enumerate(colours))
    esc = html.escape
    mid = f"<span>{esc(middle)}</span>" if middle else ""
    return (f"<div class='vizlab-legend' style='font-size:12px; line-height:1.3; margin:2px 0'>"
            f"{esc(title) + ' ' if title else ''}"
            f"<div style='width:{width}px; height:10px; background:linear-gradient(to right, {stops}); "
            f"border:1px solid #999'></div>"
            f"<div style='width:{width}px; display:flex; justify-content:space-between'>"
            f"<span>{esc(low)}</span>{mid}<span>{esc(high)}</span></div></div>")


class Explorer:
    """The display plumbing every explorer shares: ``explorer.widget`` builds the ipywidgets box
    on first use (``_build()`` returns it), and a notebook cell ending in ``explorer`` shows it.

    Hooks for subclasses (all optional): ``busy(message)`` and ``progress(done, total)`` for slow
    computations, ``legend(...)`` (module function) for a colour bar, ``describe_plain()`` for
    the text shown where widgets cannot be drawn.
    """

    _controls = None

    @property
    def widget(self):
        """The ipywidgets box (built on first use; a style element for the busy state goes first)."""
        if self._controls is None:
            import ipywidgets as w
            built = self._build()
            self._controls = w.VBox([w.HTML(STYLE), built])
            self._controls.add_class("vizlab-explorer")
        return self._controls

    def _build(self):
        raise NotImplementedError

    # -- what a notebook shows --------------------------------------------------------------------
    def describe_plain(self) -> str:
        """The text a viewer without live widgets sees instead of the explorer."""
        return (f"{type(self).__name__} -- run this cell to interact "
                "(the sliders need a running kernel; in JupyterLab: Run > Run All Cells)")

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = self.describe_plain()
        return bundle

    def __repr__(self) -> str:
        return f"<{self.describe_plain()}>"

    # -- busy feedback ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def busy(self, message: str = "computing...") -> Iterator[None]:
        """Show ``message`` and dim the picture for the duration of a ``with`` block.

        Use it around anything that may take more than ~0.2 s (an uncached method, a many-pass
        sweep); the change reaches the browser before the work starts. The picture is restored
        on exit, also on error; the caller then writes the new info line.
        """
        picture, info = getattr(self, "picture", None), getattr(self, "info", None)
        if picture is None or info is None:
            yield
            return
        self._busy_message = message
        info.value = f"<i>{html.escape(message)}</i>"
        picture.add_class(BUSY_CLASS)
        try:
            yield
        finally:
            picture.remove_class(BUSY_CLASS)
            self._busy_message = None

    def progress(self, done: int, total: int, unit: str = "") -> None:
        """Inside ``busy``: show ``message done/total [unit]``; cheap enough to call every batch."""
        info, message = getattr(self, "info", None), getattr(self, "_busy_message", None)
        if info is not None and message:
            tail = f" {html.escape(unit)}" if unit else ""
            info.value = f"<i>{html.escape(message)} {done}/{total}{tail}</i>"


def note(text: str) -> str:
    """A grey side remark for an info line (e.g. "12 of these 64 channels are all zero")."""
    return f"<br><span class='vizlab-note' style='color:#666'>{text}</span>"


def why(text: str) -> str:
    """A grey remark saying why a control changes nothing at this setting ("No ReLU runs before
    stem.bn, so the three rules give the same picture"). Only this class, ``vizlab-why``, lets the
    browser test (tests/browser/run.py) accept a control move that leaves the picture unchanged."""
    return f"<br><span class='vizlab-why' style='color:#666'>{text}</span>"


def warn(text: str) -> str:
    """A red message for an info line (a setting the method refuses; class ``vizlab-why`` too)."""
    return f"<span class='vizlab-why' style='color:#b00'>{text}</span>"
