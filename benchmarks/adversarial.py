"""PGD speed against torchattacks and against the passes it cannot avoid, in the same process.

    .venv/bin/python benchmarks/adversarial.py [--repeats 7] [--steps 10] [--threads 1]

EfficientNet-Lite0 at 224 px on the chelsea photo, pixels in [0, 1], L-inf, eps = 2/255, step
eps/4, no random start. Three measurements, run interleaved in a shuffled order ``--repeats``
times (so a busy machine slows all alike); each is the median of its runs in CPU seconds of this
process (``time.process_time``, one torch thread by default: steadier than wall time when others
share the CPU):

* ``steps`` forward+backward passes of the cross-entropy with respect to the pixels -- the floor;
* ``vizlab.adversarial.pgd`` -- target (issue 10): <= 1.1 x the floor;
* ``torchattacks.PGD`` on the same pixel model -- target: vizlab <= 1.0 x torchattacks.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import vizlab as vz
from vizlab import adversarial as adv


def cpu_time(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import torchattacks

    model = vz.load()
    net = adv.pixel_model(model)
    p = adv.pixels(vz.preprocess(vz.sample_image("chelsea"), model), model)
    with torch.no_grad():
        label = net(p).argmax(1)
    eps, steps = 2 / 255, args.steps
    step = eps / 4

    def floor():
        for _ in range(steps):
            xi = p.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(net(xi), label, reduction="sum"), xi)

    def ours():
        return adv.pgd(model, p, label, eps, steps=steps, step=step)

    attack = torchattacks.PGD(net, eps=eps, alpha=step, steps=steps, random_start=False)

    def theirs():
        return attack(p, label)

    assert (ours() - theirs()).abs().max() <= 1e-6, "the two PGDs disagree"   # also the warm-up
    floor()
    methods = {"floor": floor, "vizlab": ours, "torchattacks": theirs}
    times = {name: [] for name in methods}
    rng = random.Random(0)
    for _ in range(args.repeats):
        order = list(methods)
        rng.shuffle(order)
        for name in order:
            times[name].append(cpu_time(methods[name]))
    med = {name: statistics.median(t) for name, t in times.items()}

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, torchattacks {torchattacks.__version__}, {torch.get_num_threads()} thread(s), "
          f"load average {load:.1f}; EfficientNet-Lite0, 224 px, PGD L-inf {steps} steps, "
          f"median CPU time of {args.repeats} interleaved runs")
    rows = [
        (f"{steps} x forward+backward (input gradient)", med["floor"], "", "", None),
        (f"torchattacks PGD, {steps} steps", med["torchattacks"], f"{med['torchattacks'] / med['floor']:.3f} x floor",
         "", None),
        (f"vizlab pgd, {steps} steps", med["vizlab"], f"{med['vizlab'] / med['floor']:.3f} x floor", "<= 1.1",
         med["vizlab"] / med["floor"] <= 1.1),
        ("vizlab pgd vs torchattacks PGD", med["vizlab"], f"{med['vizlab'] / med['torchattacks']:.3f} x torchattacks",
         "<= 1.0", med["vizlab"] / med["torchattacks"] <= 1.0),
    ]
    print(f"{'measurement':<42} {'CPU s':>7}  {'ratio':<24} {'target':<7} ok")
    for name, t, ratio, target, ok in rows:
        flag = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<42} {t:>7.3f}  {ratio:<24} {target:<7} {flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
