"""The ``vizlab`` command line: one figure for a slide.

    vizlab explain chelsea --method grad_cam grad_cam_pp layer_cam --out cat.png
    vizlab explain photo.jpg --target espresso --layer blocks.15

Errors a user can fix (unreadable image, unknown method, class, layer or model) print one line
and exit with code 2 -- no traceback.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import data, methods as registry, models

# The methods that explain at a layer (vizlab.methods): a CAM map, or guided Grad-CAM's per-pixel attribution
EXPLAIN_METHODS = tuple(m.name for m in registry.REGISTRY.values() if m.layer)


DPI_RANGE = (20, 600)


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vizlab", description="Open the CNN black box from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ex = sub.add_parser(
        "explain", help="class activation maps for one photo, as one figure",
        description="Write one figure: the photo, the model's top-5 predictions and one heatmap panel per method.",
        epilog="IMAGE is a path to a photo; if no such file exists, a vizlab sample name is accepted too "
               "(chelsea, coffee, astronaut, rocket, motorcycle_left, camera, china, flower, grace_hopper). "
               "Example: vizlab explain chelsea --method grad_cam grad_cam_pp layer_cam --out cat.png")
    ex.add_argument("image", metavar="IMAGE", help="photo file, or a sample name such as 'chelsea' if no such file exists")
    ex.add_argument("--model", default="efficientnet_lite0", help="model name (default: efficientnet_lite0)")
    ex.add_argument("--method", nargs="+", action="extend", metavar="METHOD",
                    help=f"one or more of: {', '.join(EXPLAIN_METHODS)} (default: grad_cam)")
    ex.add_argument("--target", help="class to explain: an index (e.g. 285) or a name (e.g. 'espresso'); "
                                     "default: the predicted class")
    ex.add_argument("--layer", help="layer to explain (default: the model's last convolutional stage)")
    ex.add_argument("--out", help="output figure (PNG/JPG/PDF by extension; default: explain_<image>.png)")
    ex.add_argument("--dpi", type=int, default=100, help=f"figure resolution, {DPI_RANGE[0]}..{DPI_RANGE[1]} (default: 100)")
    return parser


def _load_photo(spec: str):
    path = Path(spec).expanduser()
    if path.exists():
        try:
            return data.load_image(path), path.stem
        except (ValueError, OSError) as err:
            raise UsageError(f"cannot read the image {spec!r}: {err}") from None
    if spec in data.list_samples():
        return data.sample_image(spec), spec
    close = difflib.get_close_matches(spec, data.list_samples(), n=1)
    hint = f" (did you mean the sample {close[0]!r}?)" if close else ""
    raise UsageError(f"no image file {spec!r} and no sample of that name{hint}; "
                     f"samples: {', '.join(data.list_samples())}")


def _methods(names: Optional[Sequence[str]]) -> list[str]:
    names = list(names or ["grad_cam"])
    for name in names:
        if name not in EXPLAIN_METHODS:
            close = difflib.get_close_matches(name, EXPLAIN_METHODS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"unknown method {name!r}{hint}; choose from {', '.join(EXPLAIN_METHODS)}")
    return list(dict.fromkeys(names))


def _target(model, spec: Optional[str]) -> Optional[int]:
    if spec is None:
        return None
    try:
        index = int(spec)
    except ValueError:
        index = None
    if index is not None:
        n = len(models.info(model).categories) or None
        if index < 0 or (n is not None and index >= n):
            raise UsageError(f"class index {index} is outside 0..{(n or 1) - 1}")
        return index
    try:
        return models.class_index(model, spec)
    except KeyError as err:
        raise UsageError(str(err)) from None


def _out_path(spec: Optional[str], image: str) -> Path:
    """Where the figure goes: ``--out`` (``.png`` added when it has no extension) or
    ``explain_<image>.png``."""
    if spec is None:
        return Path(f"explain_{Path(image).stem}.png")
    out = Path(spec).expanduser()
    if out.is_dir() or spec.endswith(("/", "\\")):
        raise UsageError(f"--out {spec!r} is a directory; give a file name such as {str(out / 'figure.png')!r}")
    if not out.suffix:
        out = out.with_suffix(".png")
    return out


def explain(args: argparse.Namespace) -> Path:
    """Compute the maps and write the figure; returns the path written."""
    methods = _methods(args.method)
    if not DPI_RANGE[0] <= args.dpi <= DPI_RANGE[1]:
        raise UsageError(f"--dpi {args.dpi} is outside {DPI_RANGE[0]}..{DPI_RANGE[1]}")
    out = _out_path(args.out, args.image)
    photo, stem = _load_photo(args.image)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot  # deferred: it imports matplotlib.pyplot, which must come after matplotlib.use("Agg")

    try:
        model = models.load(args.model)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError, OSError) as err:
        raise UsageError(f"cannot load model {args.model!r}: {str(err).strip(chr(39))}") from None
    if args.layer is not None:
        try:
            models.find_layer(model, args.layer)
        except KeyError as err:
            raise UsageError(str(err)) from None
    target = _target(model, args.target)
    try:
        x = data.preprocess(photo, model)
        shown = data.deprocess(x, model)
        top = models.predict(model, x, k=5)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    explained = top[0].index if target is None else target

    panels = []
    for name in methods:
        try:
            method = registry.REGISTRY[name]
            if method.kind == "attribution":   # per pixel and channel: draw sum_c |a_c|
                m = method.function()(model, x, explained, layer=args.layer)[0].abs().sum(0)
            else:
                m = method.function()(model, x, explained, layer=args.layer, normalize=True)[0]
        except (ValueError, TypeError, KeyError) as err:  # e.g. cam on a layer not followed by GAP + linear
            raise UsageError(f"{name}: {err}") from None
        panels.append((name, m))

    n = 2 + len(panels)
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 3.1))
    plot.show_image(shown, ax=axes[0], title=f"{stem}")
    ax = axes[1]
    names = [p.name for p in top][::-1]
    probs = [p.probability for p in top][::-1]
    colors = ["#d62728" if p.index == explained else "#7f7f7f" for p in top][::-1]
    ax.barh(range(len(names)), probs, color=colors)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_title("top-5 (red: explained)", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    layer = args.layer or models.default_cam_layer(model)
    for a, (name, m) in zip(axes[2:], panels):
        if registry.REGISTRY[name].kind == "attribution":
            plot.show_map(m.clamp(max=float(m.flatten().quantile(0.99))), ax=a, title=name, cmap="gray")
        else:
            plot.heatmap_overlay(shown, m, ax=a, title=name)
    fig.suptitle(f"{models.class_name(model, explained)} -- {args.model}, layer {layer}", fontsize=10)
    fig.tight_layout()
    if args.out is None:
        out = Path(f"explain_{stem}.png")
    try:
        fig.savefig(out, dpi=args.dpi)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot write {str(out)!r}: {err}") from None
    finally:
        plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``vizlab`` console script; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse already printed its message (or the help)
        return int(stop.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    import torch
    threads = torch.get_num_threads()
    # One thread: the work is small, and on a busy 2-core machine two OpenMP threads can stall for seconds.
    torch.set_num_threads(1)
    try:
        out = explain(args)
    except UsageError as err:
        print(f"vizlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
