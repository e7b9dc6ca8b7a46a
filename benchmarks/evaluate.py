"""Benchmark: one deletion + insertion curve at 224 px, 1 % of the pixels per step (Grad-CAM map, cat photo).

Compared in the same process, as medians of interleaved repeats (CPU time, one torch thread by default):

* vizlab.evaluate, batched (``batch_size`` 4, the default, and 8);
* the straightforward loop: one forward pass per step (what the chapter derives in plain PyTorch);
* Quantus' PixelFlipping (deletion only, so it is timed twice: deletion + the same work for insertion),
  with 512 pixels per step (Quantus needs a step that divides H * W; 98 steps instead of 100);
* the floor: the same number of forward passes on ready-made images at the best batch size.

    .venv/bin/python benchmarks/evaluate.py [--repeats 1] [--threads 1]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np
import torch

import vizlab as vz
from vizlab import evaluate as ev


def cpu(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    model = vz.load()
    x = vz.preprocess(vz.sample_image("chelsea"), model)
    target = int(model(x).argmax())
    m = ev.explain("grad_cam", model, x, target)
    step = 502                                  # 1 % of 224 * 224 = 50176 pixels
    k = math.ceil(224 * 224 / step) + 1         # points per curve
    black, blurred = ev.substrate(model, x, "black"), ev.blur(x)

    def loop():                                  # one forward pass per step, deletion then insertion
        order = ev.order(m[0])
        for start, end in ((x, black), (blurred, x)):
            for j in range(k):
                changed = torch.zeros(224 * 224, dtype=torch.bool)
                changed[order[:j * step]] = True
                with torch.no_grad():
                    model(torch.where(changed.view(1, 1, 224, 224), end, start)).softmax(-1)

    def ours(batch):
        return lambda: (ev.deletion(m, model, x, target, step=step, batch_size=batch),
                        ev.insertion(m, model, x, target, step=step, batch_size=batch))

    def floor(batch):
        images = x.expand(batch, -1, -1, -1).contiguous()

        def run():
            with torch.no_grad():
                for _ in range(math.ceil(2 * k / batch)):
                    model(images)
        return run

    candidates = {f"vizlab batch {b}": ours(b) for b in (4, 8)}
    candidates["per-step loop"] = loop
    for b in (1, 4):
        candidates[f"forward floor, batch {b}"] = floor(b)
    try:
        import quantus
        metric = quantus.PixelFlipping(features_in_step=512, perturb_baseline=0.0, disable_warnings=True,
                                       abs=False, normalise=False, display_progressbar=False)

        def q():
            for _ in range(2):
                metric(model=model, x_batch=x.numpy(), y_batch=np.array([target]), a_batch=m[:, None].numpy(), device="cpu")
        candidates["Quantus PixelFlipping x2"] = q
    except ImportError:
        print("Quantus is not installed: no Quantus row")
    times = {name: [] for name in candidates}
    for _ in range(args.repeats):
        for name, fn in candidates.items():
            times[name].append(cpu(fn))
    med = {name: statistics.median(v) for name, v in times.items()}
    best_floor = min(v for n, v in med.items() if n.startswith("forward floor"))
    best_ours = min(v for n, v in med.items() if n.startswith("vizlab"))
    print(f"deletion + insertion, {k} points each, 224 px, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'':28s}{'CPU s':>8s}{'/ best vizlab':>15s}{'/ floor':>10s}")
    for name, v in med.items():
        print(f"{name:28s}{v:8.2f}{v / best_ours:15.2f}{v / best_floor:10.2f}")


if __name__ == "__main__":
    main()
