"""Make the leaderboard of chapter 12: every vizlab method x every metric over every annotated image.

    .venv/bin/python data/make_leaderboard.py            # writes vizlab/assets/leaderboard.csv and .md

The table ships inside the package (chapter 12 reads it with ``vz.data.asset_path``).

For each annotated photo and each object of each two-object canvas (vizlab/assets/annotations.json) and each
method (plus two baselines: a random map and a centre Gaussian), with the annotated class as target:

* deletion AUC (black substrate) and insertion AUC (blurred substrate), ``--step`` of the pixels per step;
* pointing game (hit / miss) and energy pointing game (share of the map inside the boxes);
* seconds of CPU time to compute the map (one torch thread);
* Score-CAM (one forward pass per channel of the head) only on the first ``--slow`` photos;
* sanity-check sensitivity, on the first ``--sanity`` photos (not Score-CAM): 1 - Spearman rank correlation of |map|
  between the trained model and the model with its top layers (classifier, head, blocks.15)
  re-initialised (Adebayo et al. 2018, cascading randomisation, first steps).

Work is spread over ``--workers`` processes, each with one torch thread. Everything is seeded: the
same run gives the same numbers (the timings aside).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import time
from multiprocessing import get_context
from pathlib import Path

import torch

import vizlab as vz
from vizlab import evaluate as ev

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent / "vizlab" / "assets"   # shipped in the wheel: the chapters read it from there
OPTIONS = {"smoothgrad": {"samples": 8}, "integrated_gradients": {"steps": 8},
           "smooth_grad_cam_pp": {"n_samples": 8}}
SLOW = {"score_cam"}     # one forward pass per channel of the head (up to 1280): only on the first --slow items
METHODS = list(ev.METHODS) + list(ev.BASELINES)
TOP_LAYERS = [["classifier", "head", "blocks.15"]]

_model = None
_items = None


def _init() -> None:
    global _model, _items
    torch.set_num_threads(1)
    _model = vz.load()
    _items = ev.annotated_inputs(_model)


def _measure(job: tuple) -> list[dict]:
    index, step, sanity, slow = job
    item = _items[index]
    x, target = item["x"], [item["target"]]
    rows = []
    for method in METHODS:
        if method in SLOW and not slow:
            continue
        g = torch.Generator().manual_seed(0)
        t0 = time.process_time()
        m = ev.explain(method, _model, x, target, generator=g, **OPTIONS.get(method, {}))
        seconds = time.process_time() - t0
        row = {"item": item["name"], "method": method, "seconds": seconds,
               "deletion": float(ev.auc(ev.deletion(m, _model, x, target, step=step))),
               "insertion": float(ev.auc(ev.insertion(m, _model, x, target, step=step))),
               "pointing": float(ev.pointing_game(m, _model, x, item["boxes"])),
               "energy": float(ev.energy_pointing_game(m, _model, x, item["boxes"])),
               "sensitivity": ""}
        if sanity and method not in SLOW:
            sim = ev.sanity_check(method, _model, x, target, layers=TOP_LAYERS,
                                  generator=torch.Generator().manual_seed(0), **OPTIONS.get(method, {}))
            row["sensitivity"] = 1 - sim[-1]["spearman_abs"]
        rows.append(row)
    return rows


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "--"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def summary(rows: list[dict]) -> list[dict]:
    """Mean ± standard deviation per method over the items."""
    out = []
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        sens = [float(r["sensitivity"]) for r in mine if r["sensitivity"] != ""]
        out.append({"method": method,
                    **{k: _mean_sd([float(r[k]) for r in mine]) for k in ("deletion", "insertion", "pointing", "energy")},
                    "sensitivity": _mean_sd(sens),
                    "seconds": f"{statistics.median(float(r['seconds']) for r in mine):.2f}"})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.2, help="fraction of the pixels per deletion/insertion step")
    parser.add_argument("--sanity", type=int, default=2, help="photos on which the sanity check runs")
    parser.add_argument("--slow", type=int, default=2, help="photos on which Score-CAM runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N items (for a quick try)")
    parser.add_argument("--out", type=Path, default=ASSETS / "leaderboard")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    items = ev.annotated_inputs(vz.load())
    n = len(items) if not args.limit else min(args.limit, len(items))
    jobs = [(i, args.step, i < args.sanity, i < args.slow) for i in range(n)]
    t0, c0 = time.time(), time.process_time()
    with get_context("spawn").Pool(args.workers, initializer=_init) as pool:
        rows = [r for part in pool.map(_measure, jobs, chunksize=1) for r in part]
    wall = time.time() - t0
    fields = ["item", "method", "deletion", "insertion", "pointing", "energy", "sensitivity", "seconds"]
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]) for k in fields})
    table = summary(rows)
    lines = [f"# Leaderboard: {n} annotated items (photos and canvas objects), EfficientNet-Lite0", "",
             f"Made by `data/make_leaderboard.py --step {args.step} --sanity {args.sanity} --slow {args.slow} "
             f"--workers {args.workers}`. Mean ± standard deviation over the items; deletion AUC: lower is "
             "better; insertion AUC, pointing game, energy pointing game, sanity sensitivity: higher is better. "
             f"Sensitivity over the first {args.sanity} photos (not for Score-CAM); Score-CAM only on the first "
             f"{args.slow} photos; s / map: median CPU seconds per map (one thread).", "",
             "| method | deletion AUC ↓ | insertion AUC ↑ | pointing game ↑ | energy pointing ↑ | sanity sensitivity ↑ | s / map |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['method']} | {r['deletion']} | {r['insertion']} | {r['pointing']} | {r['energy']} | "
                     f"{r['sensitivity']} | {r['seconds']} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"\n{wall:.0f} s wall, main process {time.process_time() - c0:.0f} s CPU")


if __name__ == "__main__":
    main()
