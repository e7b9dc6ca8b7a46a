"""vizlab.attribution vs Captum: same process, same input (EfficientNet-Lite0, chelsea, 224 px).

Prints one table: the median wall time of each method over repeats (runs of the two libraries
interleaved, so both see the same machine load), and the ratio vizlab / reference with its target
from issue 3. Captum overrides only ``nn.ReLU``; for deconvnet / guided backprop it runs on a copy
of the model whose ReLU6 modules are an ``nn.ReLU`` subclass computing the same function, so both
libraries do the same work (on the model as it is, Captum would silently return the plain gradient).

    python benchmarks/attribution.py [--repeats 15] [--slow-repeats 3] [--threads N]

On a shared machine, ``--threads 1`` gives steadier numbers: with several threads, one thread
descheduled by another process stalls the others at every parallel region.
"""
from __future__ import annotations

import argparse
import copy
import random
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

import vizlab as vz
from vizlab import attribution as A

warnings.filterwarnings("ignore")   # Captum warns on every guided-backprop call that it sets hooks


class CaptumVisibleReLU6(nn.ReLU):
    """ReLU6 that Captum's ``isinstance(module, nn.ReLU)`` test sees; same forward and backward."""

    def forward(self, t):
        return F.hardtanh(t, 0.0, 6.0)


def relu6_visible_to_captum(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, CaptumVisibleReLU6())
    return twin


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """Median wall time of each function; one warm-up call each, then rounds of one call each, in a
    different (seeded) order every round so that no function always follows the same one."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    order = list(fns)
    for r in range(repeats):
        random.Random(r).shuffle(order)
        for name in order:
            times[name].append(timed(fns[name]))
    return {name: statistics.median(t) for name, t in times.items()}


def per_image_floor(model, x, target, batch_sizes=(1, 4, 8, 16), repeats=5) -> tuple[float, int]:
    """The best per-image time of one plain forward+backward pass (to the input), over batch sizes."""
    best = (float("inf"), 0)
    for b in batch_sizes:
        xb = x.expand(b, -1, -1, -1).contiguous()

        def run():
            xi = xb.clone().requires_grad_(True)
            torch.autograd.grad(model(xi)[:, target].sum(), xi)

        t = interleaved_medians({"p": run}, repeats)["p"] / b
        best = min(best, (t, b))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--slow-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from captum.attr import (Deconvolution, GuidedBackprop, IntegratedGradients, NoiseTunnel, Saliency)

    torch.manual_seed(0)
    model = vz.load()
    twin = relu6_visible_to_captum(model)
    x = vz.preprocess(vz.sample_image("chelsea"), model)
    t = vz.predict(model, x, 1)[0].index
    rows = []

    single = interleaved_medians({
        "saliency": lambda: A.saliency(model, x, t),
        "captum Saliency": lambda: Saliency(model).attribute(x, target=t, abs=False),
        "guided_backprop": lambda: A.guided_backprop(model, x, t),
        "captum GuidedBackprop": lambda: GuidedBackprop(twin).attribute(x, target=t),
        "deconvnet": lambda: A.deconvnet(model, x, t),
        "captum Deconvolution": lambda: Deconvolution(twin).attribute(x, target=t),
    }, args.repeats)
    for ours, theirs in [("saliency", "captum Saliency"), ("guided_backprop", "captum GuidedBackprop"),
                         ("deconvnet", "captum Deconvolution")]:
        rows.append((ours, single[ours], f"{theirs}", single[theirs], 1.1))

    floor, floor_batch = per_image_floor(model, x, t)
    steps = 50
    ig_sizes, nt_sizes = (10, 25, 50), (10, 25, 50)
    ig = interleaved_medians({
        "vizlab": lambda: A.integrated_gradients(model, x, t, steps=steps),
        **{f"captum ibs={b}": (lambda b=b: IntegratedGradients(model).attribute(
            x, baselines=-1.0, target=t, n_steps=steps, method="gausslegendre", internal_batch_size=b))
           for b in ig_sizes},
    }, args.slow_repeats)
    best_ig = min((v, k) for k, v in ig.items() if k != "vizlab")
    rows.append((f"integrated_gradients ({steps} steps)", ig["vizlab"], f"{best_ig[1]} (best)", best_ig[0], 1.0))
    rows.append((f"integrated_gradients ({steps} steps)", ig["vizlab"],
                 f"floor: {steps} x best per-image pass (batch {floor_batch})", steps * floor, 1.25))

    sigma = 0.15 * float(x.max() - x.min())
    sg = interleaved_medians({
        "vizlab": lambda: A.smoothgrad(A.saliency, model, x, t, samples=50, generator=torch.Generator().manual_seed(0)),
        **{f"captum nt_batch={b}": (lambda b=b: NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=50, nt_samples_batch_size=b, stdevs=sigma, target=t, abs=False))
           for b in nt_sizes},
    }, args.slow_repeats)
    best_sg = min((v, k) for k, v in sg.items() if k != "vizlab")
    rows.append(("smoothgrad(saliency, 50 samples)", sg["vizlab"], f"NoiseTunnel(Saliency) {best_sg[1][7:]} (best)",
                 best_sg[0], 1.0))

    print(f"EfficientNet-Lite0, 224 px, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats} (single pass) / {args.slow_repeats} (50 passes) interleaved runs")
    print(f"{'vizlab':34s} {'time':>8s}   {'reference':48s} {'time':>8s} {'ratio':>6s} {'target':>7s}")
    for name, ours, ref_name, ref, target in rows:
        ratio = ours / ref
        flag = "ok" if ratio <= target else "OVER"
        print(f"{name:34s} {ours * 1e3:6.0f}ms   {ref_name:48s} {ref * 1e3:6.0f}ms {ratio:6.2f} <={target:<4} {flag}")
    print("captum IG by internal_batch_size:",
          ", ".join(f"{k[11:]}: {v * 1e3:.0f}ms" for k, v in ig.items() if k != "vizlab"))
    print("captum NoiseTunnel by nt_samples_batch_size:",
          ", ".join(f"{k[15:]}: {v * 1e3:.0f}ms" for k, v in sg.items() if k != "vizlab"))


if __name__ == "__main__":
    main()
