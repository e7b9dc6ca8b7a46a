"""vizlab.optvis.render vs Lucent's render_vis (torch-lucent), same process, EfficientNet-Lite0.

Both use the same parameterisation (FFT + decorrelated colour + sigmoid, 128 px), Lucent's
standard transformations (pad 12, jitter 8, scale 0.9-1.1, rotate +-10 deg, jitter 4) and a final
resize to 128 px (Lucent's ``fixed_image_size=128``), Adam at lr 0.05, the model's own
normalisation (0.5 / 0.5; Lucent's ImageNet one is switched off and replaced). Prints:

1. ms per step (median of interleaved repeats) for a channel at a middle and a deep layer, as a
   ratio to Lucent and to the floor (one forward + backward to the input at 128 px);
2. the objective reached after --quality-steps steps on 8 channels (scored without transforms);
3. a batch of 16 channels in one render vs 16 single renders (per step).

    python benchmarks/optvis.py [--threads 1] [--steps 12] [--repeats 5] [--quality-steps 256]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import vizlab as vz
from vizlab import optvis
from vizlab.optvis import objectives as O
from vizlab.optvis import param as P
from vizlab.optvis import transforms as T

SIZE = 128


def ours(model, layer, channels, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    obj = O.channels(layer, channels) if len(channels) > 1 else O.channel(layer, channels[0])
    imgs, _ = optvis.render(model, obj, param=P.fft(SIZE, batch=len(channels), generator=g),
                            transforms=T.standard() + [T.resize(SIZE)], steps=steps, lr=0.05, generator=g,
                            progress=False)
    return imgs


def lucent(model, layer, channel, steps, seed=0):
    from lucent.optvis import objectives as LO, param as LP, render as LR, transform as LT
    torch.manual_seed(seed)
    np.random.seed(seed)
    norm = lambda x: (x - 0.5) / 0.5
    try:
        imgs = LR.render_vis(model, LO.channel(layer.replace(".", "_"), channel), param_f=lambda: LP.image(SIZE),
                             transforms=LT.standard_transforms + [norm], thresholds=(steps,), preprocess=False,
                             progress=False, show_image=False, fixed_image_size=SIZE)
    finally:
        for m in model.modules():  # Lucent leaves its hooks and parameter .grad behind
            m._forward_hooks.clear()
        for p in model.parameters():
            p.grad = None
    return torch.from_numpy(imgs[0]).permute(0, 3, 1, 2)


def floor(model, steps):
    """One forward + backward to the input at 128 px (what any renderer must pay per step)."""
    x = torch.rand(1, 3, SIZE, SIZE, requires_grad=True)
    for _ in range(steps):
        out = model((x - 0.5) / 0.5)
        torch.autograd.grad(out[:, 0].sum(), x)


def per_step_ms(fn, steps, repeats):
    times = {name: [] for name in fn}
    for r in range(repeats):
        for name in (list(fn) if r % 2 == 0 else list(fn)[::-1]):  # interleaved, alternating order
            t = time.perf_counter()
            fn[name](steps)
            times[name].append((time.perf_counter() - t) / steps * 1000)
    return {name: statistics.median(v) for name, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quality-steps", type=int, default=256)
    ap.add_argument("--layer", default="blocks.10")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = vz.load()
    print(f"torch {torch.__version__}, {args.threads} thread(s), Lite0, {SIZE} px, FFT+decorrelate, standard transforms")

    print("\n1. ms per step (median)")
    print(f"{'layer':<10} {'vizlab':>8} {'Lucent':>8} {'floor':>8} {'vs Lucent':>10} {'vs floor':>9}")
    for layer in ["blocks.5", args.layer, "blocks.15"]:
        ms = per_step_ms({"vizlab": lambda n: ours(model, layer, [3], n),
                          "lucent": lambda n: lucent(model, layer, 3, n),
                          "floor": lambda n: floor(model, n)}, args.steps, args.repeats)
        print(f"{layer:<10} {ms['vizlab']:8.1f} {ms['lucent']:8.1f} {ms['floor']:8.1f} "
              f"{ms['vizlab'] / ms['lucent']:10.2f} {ms['vizlab'] / ms['floor']:9.2f}")

    print(f"\n2. channel objective after {args.quality_steps} steps, {args.layer}, scored without transforms")
    print(f"{'channel':>7} {'vizlab':>8} {'Lucent':>8}")
    mine, theirs = [], []
    for c in range(0, 8 * 7, 7):
        obj = O.channel(args.layer, c)
        a = float(optvis.score(model, obj, ours(model, args.layer, [c], args.quality_steps, seed=c)))
        b = float(optvis.score(model, obj, lucent(model, args.layer, c, args.quality_steps, seed=c)))
        mine.append(a)
        theirs.append(b)
        print(f"{c:7d} {a:8.2f} {b:8.2f}")
    print(f"{'median':>7} {statistics.median(mine):8.2f} {statistics.median(theirs):8.2f}"
          f"   ratio {statistics.median(mine) / statistics.median(theirs):.2f}")

    print(f"\n3. 16 channels of {args.layer}: one batch vs 16 single renders (ms per step per channel)")
    ms = per_step_ms({"batch16": lambda n: ours(model, args.layer, list(range(16)), n),
                      "single": lambda n: ours(model, args.layer, [0], n)}, max(2, args.steps // 2), 3)
    print(f"batch of 16: {ms['batch16'] / 16:.1f}   single: {ms['single']:.1f}   "
          f"ratio {ms['batch16'] / (16 * ms['single']):.2f}")


if __name__ == "__main__":
    main()
