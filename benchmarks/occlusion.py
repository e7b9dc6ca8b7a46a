"""Occlusion speed against Captum's Occlusion, measured in the same process.

    .venv/bin/python benchmarks/occlusion.py [--repeats 3] [--window 32] [--stride 16] [--batch 32]

Default model (EfficientNet-Lite0), chelsea at 224 px, class "Egyptian cat", the same windows on both
sides (Captum: sliding_window_shapes=(3, w, w), strides=(3, s, s), perturbations_per_eval = vizlab's
batch_size), so both run 1 + K forward passes (K windows). Also digits_cnn on 32 test digits. Every time
is the median of ``--repeats`` runs after one warm-up; ratios are within this run.

Target (issue 22): vizlab occlusion <= 1.0 x Captum's time for the same number of passes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

import vizlab as vz
from vizlab.perturbation import occlusion, window_masks


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from captum.attr import Occlusion

    cases = []
    lite0 = vz.load()
    cases.append(("Lite0, chelsea 224 px", lite0, vz.preprocess(vz.sample_image("chelsea"), lite0),
                  args.window, args.stride))
    cnn = vz.load("digits_cnn")
    cases.append(("digits_cnn, 32 digits 32 px", cnn, vz.digits.load_split().x_test[:32], 8, 4))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeats}, batch {args.batch}")
    print(f"{'case':<30} {'windows':>7} {'vizlab s':>9} {'Captum s':>9} {'ratio':>6}  target  ok  max |diff|")
    for name, model, x, w, s in cases:
        with torch.no_grad():
            target = model(x).argmax(1)
        k = len(window_masks(x.shape[2], x.shape[3], (w, w), (s, s)))
        ours = lambda: occlusion(model, x, target.tolist(), window=w, stride=s, batch_size=args.batch)
        captum = Occlusion(model)
        theirs = lambda: captum.attribute(x, target=target, sliding_window_shapes=(x.shape[1], w, w),
                                          strides=(x.shape[1], s, s), baselines=0.0,
                                          perturbations_per_eval=args.batch)
        diff = float((ours() - theirs()).abs().max())
        t_ours, t_theirs = median_time(ours, args.repeats), median_time(theirs, args.repeats)
        ratio = t_ours / t_theirs
        print(f"{name:<30} {k:>7} {t_ours:>9.3f} {t_theirs:>9.3f} {ratio:>6.2f}  <= 1.0  {'yes' if ratio <= 1 else 'NO'}"
              f"  {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
