"""Every family on a ``torch.compile``d model (issue 21 item 3): the same result as on the module itself, and the
compiled code never runs -- vizlab explains the original module (``hooks.unwrap``), because hooks added to a
compiled model after compilation are not seen by the compiled code.

The compiled wrapper uses a backend that counts how often it is asked to compile: a method that ran the compiled
model (and so would miss its own hooks) makes the count positive.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import adversarial as adv, optvis, style
from vizlab.optvis import param as P

COMPILED = []


def counting_backend(gm, example_inputs):
    COMPILED.append(gm)
    return gm.forward


def tiny_net() -> nn.Module:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net.eval()


X = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))

CALLS = {
    "saliency": lambda m: vz.saliency(m, X, 1),
    "grad_cam": lambda m: vz.grad_cam(m, X, 1, "2"),
    "score_cam": lambda m: vz.score_cam(m, X, 1, "2"),
    "occlusion": lambda m: vz.occlusion(m, X, 1, window=4, stride=4),
    "integrated_gradients": lambda m: vz.integrated_gradients(m, X, 1, steps=4),
    "fgsm": lambda m: vz.fgsm(m, X, [0, 1], 0.05),
    "pgd": lambda m: vz.pgd(m, X, [0, 1], 0.05, steps=3),
    "fooling_image": lambda m: adv.fooling_image(m, X[:1], 2, max_steps=2).image,
    "deletion": lambda m: vz.deletion("grad_cam", m, X, 1, step=0.25),
    "insertion": lambda m: vz.insertion("saliency", m, X, 1, step=0.25),
    "sanity_check": lambda m: torch.tensor([r["spearman"] for r in vz.sanity_check("saliency", m, X, 1,
                                                                                    layers=["0", "2"])]),
    "render": lambda m: optvis.render(m, optvis.objectives.channel("2", 1), param=P.pixels(8, generator=torch.Generator().manual_seed(0)),
                                      transforms=[], steps=2, progress=False)[0],
    "transfer": lambda m: style.transfer(m, X[:1], X[1:], "2", ["0", "2"], steps=2, progress=False)[0],
}


@pytest.mark.parametrize("name", list(CALLS))
def test_compiled_model_gives_the_modules_result_without_running_compiled_code(name):
    net = tiny_net()
    expected = CALLS[name](net)
    COMPILED.clear()
    got = CALLS[name](torch.compile(net, backend=counting_backend))
    assert COMPILED == [], f"{name} ran the compiled model"
    assert torch.equal(torch.as_tensor(got), torch.as_tensor(expected))


def test_the_counting_backend_sees_a_compiled_call():
    """The check itself: calling the compiled model does compile (a test that could never see it would pass)."""
    COMPILED.clear()
    torch.compile(tiny_net(), backend=counting_backend)(X)
    assert len(COMPILED) == 1
