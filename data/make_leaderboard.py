"""Make the leaderboard of chapter 12: every vizlab method x every metric over every annotated image.

    .venv/bin/python data/make_leaderboard.py            # writes vizlab/assets/leaderboard.csv and .md

The table ships inside the package (chapter 12 reads it with ``vz.data.asset_path``). It is computed by
``vizlab.evaluate.leaderboard`` (its docstring says what each column measures); this script only spreads the
items over ``--workers`` processes (each with one torch thread) and writes the two files.

Items: each annotated photo and each object of each two-object canvas (vizlab/assets/annotations.json), with
the annotated class as target. Methods: every method of ``vizlab.evaluate.METHODS`` (occlusion with window 32
and stride 16, as in chapter 06b) plus two baselines (a random map and a centre Gaussian). Score-CAM (one
forward pass per channel of the head) only on the first ``--slow`` items; the sanity check on the first
``--sanity`` items. Everything is seeded: the same run gives the same numbers (the timings aside).
"""
from __future__ import annotations

import argparse
import csv
import time
from multiprocessing import get_context
from pathlib import Path

import torch

import vizlab as vz
from vizlab import evaluate as ev
from vizlab.evaluate.leaderboard import COLUMNS

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent / "vizlab" / "assets"   # shipped in the wheel: the chapters read it from there

_model = None
_items = None


def _init() -> None:
    global _model, _items
    torch.set_num_threads(1)
    _model = vz.load()
    _items = ev.annotated_inputs(_model)


def _measure(job: tuple) -> list[dict]:
    index, methods, step, sanity, slow = job
    return ev.leaderboard(_model, [_items[index]], methods, step=step, sanity=int(index < sanity),
                          slow=int(index < slow))


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def _merge(rows: list[dict], methods: list[str], path: Path) -> tuple[list[dict], list[str]]:
    """The new rows in place of the same methods' rows of the table at ``path``, the others kept as they
    are; items in the table's order, methods in ``vizlab.evaluate``'s order (METHODS, then BASELINES)."""
    old = [{k: (v if k in ("item", "method") or v == "" else float(v)) for k, v in r.items()}
           for r in csv.DictReader(open(path))]
    kept = [r for r in old if r["method"] not in methods]
    order = [m for m in list(ev.METHODS) + list(ev.BASELINES)]
    items = list(dict.fromkeys(r["item"] for r in old + rows))
    merged = sorted(kept + rows, key=lambda r: (items.index(r["item"]), order.index(r["method"])))
    return merged, [m for m in order if any(r["method"] == m for r in merged)]


def markdown(table: list[dict], n: int, args) -> str:
    lines = [f"# Leaderboard: {n} annotated items (photos and canvas objects), EfficientNet-Lite0", "",
             f"Made by `data/make_leaderboard.py --step {args.step} --sanity {args.sanity} --slow {args.slow} "
             f"--workers {args.workers}`. Mean ± standard deviation over the items; deletion AUC: lower is "
             "better; insertion AUC, pointing game, energy pointing game, sanity sensitivity: higher is better. "
             f"Sensitivity over the first {args.sanity} photos (not for Score-CAM); Score-CAM only on the first "
             f"{args.slow} photos; occlusion with window 32 and stride 16; s / map: median CPU seconds per map "
             "(one thread)." + (f" Rows of {', '.join(args.methods.split(','))} added to the previous table with "
                                "`--keep` (the other rows as that run measured them)." if args.keep else ""), "",
             "| method | deletion AUC ↓ | insertion AUC ↑ | pointing game ↑ | energy pointing ↑ | sanity sensitivity ↑ | s / map |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['method']} | {r['deletion']} | {r['insertion']} | {r['pointing']} | {r['energy']} | "
                     f"{r['sensitivity']} | {r['seconds']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.2, help="fraction of the pixels per deletion/insertion step")
    parser.add_argument("--sanity", type=int, default=2, help="items on which the sanity check runs")
    parser.add_argument("--slow", type=int, default=2, help="items on which Score-CAM runs")
    parser.add_argument("--workers", type=int, default=2, help="processes (1: in this process)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N items (for a quick try)")
    parser.add_argument("--methods", default="", help="comma-separated names (default: every method and baseline)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the other methods' rows of the existing table (add or re-measure --methods only)")
    parser.add_argument("--out", type=Path, default=ASSETS / "leaderboard")
    args = parser.parse_args(argv)
    methods = args.methods.split(",") if args.methods else list(ev.METHODS) + list(ev.BASELINES)
    torch.set_num_threads(1)
    n_items = len(ev.annotated_inputs(vz.load()))
    n = n_items if not args.limit else min(args.limit, n_items)
    jobs = [(i, methods, args.step, args.sanity, args.slow) for i in range(n)]
    t0, c0 = time.time(), time.process_time()
    if args.workers == 1:
        _init()
        parts = [_measure(job) for job in jobs]
    else:
        with get_context("spawn").Pool(args.workers, initializer=_init) as pool:
            parts = pool.map(_measure, jobs, chunksize=1)
    rows = [r for part in parts for r in part]
    wall = time.time() - t0
    if args.keep:
        rows, methods = _merge(rows, methods, args.out.with_suffix(".csv"))
    write_csv(rows, args.out.with_suffix(".csv"))
    scored = [m for m in methods if any(r["method"] == m for r in rows)]    # Score-CAM may have no item
    text = markdown(ev.summary(rows, scored), n, args)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    print(f"{wall:.0f} s wall, main process {time.process_time() - c0:.0f} s CPU")
    return rows


if __name__ == "__main__":
    main()
