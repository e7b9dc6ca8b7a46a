"""Bad inputs to the attacks, style transfer and their explorers get a clear error -- never a silently
wrong answer, never a traceback from inside torch.

One table, as tests/test_bad_inputs.py: case -> (call, expected error type, a phrase the message must
contain). Tiny random models keep it fast; each group names the bug of issue 19
(shared/reviews/newer-modules-bugs.md) it comes from.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import adversarial as adv
from vizlab import style as st
from vizlab.widgets.adversarial import AdversarialExplorer
from vizlab.widgets.style import StyleExplorer
from conftest import TupleOut, assert_clear_error, tiny

NAN, INF = float("nan"), float("inf")


class Unused(nn.Module):
    """A layer that forward never calls (bug 22's reproducer)."""

    def __init__(self):
        super().__init__()
        self.conv, self.unused = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def zero_style_net() -> nn.Module:
    """Bug 23: with the ImageNet mean as the style image, the normalised input is exactly 0 and so
    are the features of this bias-free conv + ReLU."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU()).eval()


def big_kernel() -> nn.Module:
    """A 5 x 5 convolution without padding: a 3 x 3 image is too small for it."""
    return nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU()).eval()


M = tiny()
P = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))    # pixels in [0, 1]
P1 = P[:1]
C = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))    # content / style pixels
S = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
MEAN = torch.tensor(vz.models.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 8, 8).contiguous()


def nan_at_corner(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x[0, 0, 0, 0] = NAN
    return x


def transfer(model=M, content=C, style=S, content_layer="1", style_layers=("1", "3"), **kw):
    kw.setdefault("steps", 1)
    return st.transfer(model, content, style, content_layer, list(style_layers) if isinstance(style_layers, tuple)
                       else style_layers, progress=False, **kw)


def explorer(photos=None, **kw):
    return AdversarialExplorer(M, {"a": P1} if photos is None else photos, **kw)


GRID = np.zeros((1, 1, 1, 4, 4, 3), np.uint8)
PIC = np.zeros((4, 4, 3), np.uint8)


def style_explorer(images=GRID, networks=("a",), style_weights=(1.0,), tv_weights=(0.0,), content=PIC, style=PIC,
                   **kw):
    return StyleExplorer(images, networks, style_weights, tv_weights, content, style, **kw)


CASES = {
    # 5. labels and targets: floats refused, not truncated; odd types named
    "fgsm label 3.7": (lambda: adv.fgsm(M, P, 3.7, eps=2 / 255), TypeError, "label must be a whole-number"),
    "fgsm label tensor([1.5, 2.5])": (lambda: adv.fgsm(M, P, torch.tensor([1.5, 2.5]), eps=2 / 255), TypeError,
                                      "whole-number"),
    "pgd target 2.5": (lambda: adv.pgd(M, P, eps=2 / 255, target=2.5, steps=1), TypeError,
                       "target must be a whole-number"),
    "fooling_image target [1.5, 2.0]": (lambda: adv.fooling_image(M, P, [1.5, 2.0], max_steps=1), TypeError,
                                        "whole-number"),
    "fgsm label dict": (lambda: adv.fgsm(M, P, {"a": 1}, eps=2 / 255), TypeError, "label must be None, an int"),
    "fgsm label ['a', 'b'] without names": (lambda: adv.fgsm(M, P, ["a", "b"], eps=2 / 255), KeyError,
                                            "class index"),
    "fgsm class name typo": (lambda: adv.fgsm(vz.load("resnet18", pretrained=False), torch.rand(1, 3, 32, 32),
                                              "tabyy", eps=2 / 255), KeyError, "closest"),
    # 7. the budget: finite, 0 < eps <= 1 in pixel units; step and lr finite and > 0
    "fgsm eps=8": (lambda: adv.fgsm(M, P, eps=8), ValueError, "pixel units, e.g. 8/255"),
    "fgsm eps=1.5": (lambda: adv.fgsm(M, P, eps=1.5), ValueError, "<= 1"),
    "fgsm eps=inf": (lambda: adv.fgsm(M, P, eps=INF), ValueError, "pixel units, e.g. 8/255"),
    "fgsm eps=nan": (lambda: adv.fgsm(M, P, eps=NAN), ValueError, "pixel units, e.g. 8/255"),
    "fgsm eps=None": (lambda: adv.fgsm(M, P, eps=None), TypeError, "eps must be a number"),
    "pgd eps='0.01'": (lambda: adv.pgd(M, P, eps="0.01"), TypeError, "eps must be a number"),
    "pgd l2 eps=inf": (lambda: adv.pgd(M, P, eps=INF, norm="l2", steps=1), ValueError, "finite"),
    "pgd step=inf": (lambda: adv.pgd(M, P, eps=2 / 255, steps=1, step=INF), ValueError, "step is in pixel units"),
    "pgd step=nan": (lambda: adv.pgd(M, P, eps=2 / 255, steps=1, step=NAN), ValueError, "step"),
    "fooling_image lr=inf": (lambda: adv.fooling_image(M, P, 1, lr=INF, max_steps=1), ValueError, "lr"),
    "fooling_image lr=nan": (lambda: adv.fooling_image(M, P, 1, lr=NAN, max_steps=1), ValueError, "lr"),
    "explorer eps 300": (lambda: explorer(eps_values=(1, 300)), ValueError, "(0, 255]"),
    "explorer eps -1": (lambda: explorer(eps_values=(-1,)), ValueError, "1/255 pixel units"),
    "explorer noise at eps -2": (lambda: explorer().adversarial("a", "noise", -2), ValueError, "[0, 255]"),
    "explorer eps nan": (lambda: explorer().render("a", "noise", NAN), ValueError, "1/255 pixel units"),
    # 17. model / input mismatches, with the model checked and run through hooks.run_model
    "fgsm VGG below 32 px": (lambda: adv.fgsm(vz.load("vgg11", pretrained=False), torch.rand(1, 3, 16, 16),
                                              eps=2 / 255), ValueError, "cannot run on an input of shape"),
    "fgsm float64 pixels": (lambda: adv.fgsm(M, P.double(), eps=2 / 255), ValueError, "x.float()"),
    "pgd float16 pixels": (lambda: adv.pgd(M, P.half(), eps=2 / 255, steps=1), ValueError, "float16"),
    "fgsm wrong channels": (lambda: adv.fgsm(M, P[:, :1], eps=2 / 255), ValueError, "1 channel"),
    "fgsm tuple-output model": (lambda: adv.fgsm(TupleOut().eval(), P, eps=2 / 255), TypeError, "returned tuple"),
    "fooling_image tuple-output model": (lambda: adv.fooling_image(TupleOut().eval(), P, 1, max_steps=1),
                                         TypeError, "returned tuple"),
    "fgsm model=None": (lambda: adv.fgsm(None, P, eps=2 / 255), TypeError, "torch.nn.Module"),
    "pgd model is a name": (lambda: adv.pgd("resnet18", P, eps=2 / 255), TypeError, "vizlab.load"),
    "fooling_image model=None": (lambda: adv.fooling_image(None, P, 1), TypeError, "torch.nn.Module"),
    "transfer float64 content": (lambda: transfer(content=C.double()), ValueError, "content: the input is "
                                                                                   "torch.float64"),
    "transfer float16 style": (lambda: transfer(style=S.half()), ValueError, "style: the input is torch.float16"),
    "transfer image too small": (lambda: transfer(big_kernel(), torch.rand(1, 3, 3, 3), torch.rand(1, 3, 3, 3)),
                                 ValueError, "cannot run on an input of shape (1, 3, 3, 3)"),
    "transfer model=None": (lambda: transfer(model=None), TypeError, "torch.nn.Module"),
    "style_distance model=None": (lambda: st.style_distance(None, C, S, ["1"]), TypeError, "torch.nn.Module"),
    "style_distance float64": (lambda: st.style_distance(M, C.double(), S, ["1"]), ValueError, "x.float()"),
    # 18. counts and step sizes
    "pgd steps=2.5": (lambda: adv.pgd(M, P, eps=2 / 255, steps=2.5), ValueError, "whole number"),
    "pgd steps=0": (lambda: adv.pgd(M, P, eps=2 / 255, steps=0), ValueError, "steps must be at least 1"),
    "fooling_image max_steps=2.5": (lambda: adv.fooling_image(M, P, 1, max_steps=2.5), ValueError, "whole number"),
    "fooling_image max_steps=-1": (lambda: adv.fooling_image(M, P, 1, max_steps=-1), ValueError, "at least 0"),
    "transfer steps=2.5": (lambda: transfer(steps=2.5), ValueError, "whole number"),
    "transfer steps=2.5 adam": (lambda: transfer(steps=2.5, optimizer="adam"), ValueError, "whole number"),
    "transfer steps=-1 (L-BFGS)": (lambda: transfer(steps=-1), ValueError, "steps must be at least 1"),
    "transfer lr=-1 (L-BFGS)": (lambda: transfer(lr=-1.0), ValueError, "lr must be > 0"),
    "transfer lr=-1 (adam)": (lambda: transfer(lr=-1.0, optimizer="adam"), ValueError, "lr must be > 0"),
    "transfer lr=nan": (lambda: transfer(lr=NAN), ValueError, "lr must be a finite number"),
    "transfer tv_weight=nan": (lambda: transfer(tv_weight=NAN), ValueError, "tv_weight must be a finite"),
    "explorer pgd_steps=2.5": (lambda: explorer(pgd_steps=2.5), ValueError, "whole number"),
    # 9. style: NaN pixels and style_distance's images
    "transfer NaN content": (lambda: transfer(content=nan_at_corner(C)), ValueError, "content: the input holds NaN"),
    "transfer NaN style": (lambda: transfer(style=nan_at_corner(S)), ValueError, "style: the input holds NaN"),
    "style_distance NaN image": (lambda: st.style_distance(M, nan_at_corner(C), C, ["1"]), ValueError,
                                 "image: the input holds NaN"),
    "style_distance 3-D image": (lambda: st.style_distance(M, C[0], S, ["1"]), ValueError, "1 x 3 x H x W"),
    "style_distance uint8 image": (lambda: st.style_distance(M, (C * 255).byte(), S, ["1"]), ValueError,
                                   "float pixels"),
    "style_distance normalised style": (lambda: st.style_distance(M, C, S * 4 - 2, ["1"]), ValueError,
                                        "not a normalised model input"),
    "style_distance batch of 2": (lambda: st.style_distance(M, torch.cat([C, C]), S, ["1"]), ValueError,
                                  "one image"),
    "style_distance empty image": (lambda: st.style_distance(M, C[..., :0, :0], S, ["1"]), ValueError, "empty"),
    "style_distance layers=[]": (lambda: st.style_distance(M, C, S, []), ValueError, "layers is empty"),
    # 22. a style layer that never runs, or has no spatial features
    "transfer unused style layer": (lambda: transfer(model=Unused(), content_layer="conv", style_layers=["unused"]),
                                    ValueError, "were not called in the forward pass"),
    "transfer unused content layer": (lambda: transfer(model=Unused(), content_layer="unused",
                                                       style_layers=["conv"]),
                                      ValueError, "were not called in the forward pass"),
    "style_distance unused layer": (lambda: st.style_distance(Unused(), C, S, ["unused"]), ValueError,
                                    "were not called in the forward pass"),
    "transfer 2-D style layer": (lambda: transfer(style_layers=["6"]), ValueError, "not features N x C x H x W"),
    "style_distance 2-D layer": (lambda: st.style_distance(M, C, S, ["1", "6"]), ValueError,
                                 "style layer '6' outputs (1, 5)"),
    "gram_matrix of 2-D features": (lambda: st.gram_matrix(torch.ones(1, 5)), ValueError, "N x C x H x W"),
    # 23. all-zero style features
    "style_distance zero style features": (lambda: st.style_distance(zero_style_net(), C, MEAN, ["1"]),
                                           ValueError, "at layer '1' is all zero"),
    "transfer relative, zero style features": (lambda: transfer(zero_style_net(), C, MEAN, None, ["1"]),
                                               ValueError, "relative=False"),
    "transfer relative, zero content features": (lambda: transfer(zero_style_net(), MEAN, C, "1", []),
                                                 ValueError, "content photo's features at layer '1' is all zero"),
    # 25. explorer constructors
    "explorer normalised photo": (lambda: explorer({"a": P1 * 4 - 2}), ValueError, "photo 'a': attacks take pixels"),
    "explorer NaN photo": (lambda: explorer({"a": nan_at_corner(P1)}), ValueError, "photo 'a': the input holds NaN"),
    "explorer uint8 photo": (lambda: explorer({"a": (P1 * 255).byte()}), ValueError, "float"),
    "explorer photos={}": (lambda: explorer({}), ValueError, "photos is empty"),
    "explorer methods=[]": (lambda: explorer(methods=[]), ValueError, "methods must be among"),
    "explorer unknown photo": (lambda: explorer().render("b", "fgsm", 1), KeyError, "no photo 'b'"),
    "explorer eps_values=()": (lambda: explorer(eps_values=()), ValueError, "non-empty list"),
    "style explorer 0..255 floats": (lambda: style_explorer(GRID.astype(float) + 200), ValueError, "divide by 255"),
    "style explorer NaN images": (lambda: style_explorer(GRID.astype(float) * NAN), ValueError, "NaN"),
    "style explorer NaN content": (lambda: style_explorer(content=np.full((4, 4, 3), NAN)), ValueError, "NaN"),
    "style explorer content of another size": (lambda: style_explorer(content=np.zeros((6, 6, 3), np.uint8)),
                                               ValueError, "as tall as the results"),
    "style explorer networks=[]": (lambda: style_explorer(GRID[:0], networks=[]), ValueError, "networks must be a "
                                                                                              "non-empty list"),
    "style explorer style_weights=None": (lambda: style_explorer(style_weights=None), ValueError,
                                          "style_weights must be a non-empty list"),
    "style explorer NaN style weight": (lambda: style_explorer(style_weights=[NAN]), ValueError, "finite"),
    "style explorer metric of another shape": (lambda: style_explorer(metrics={"judge": np.zeros(3)}), ValueError,
                                               "metric 'judge'"),
    # 29. magnify
    "magnify eps=0": (lambda: adv.magnify(P - 0.5, eps=0), ValueError, "must be > 0"),
    "magnify eps=-1": (lambda: adv.magnify(P - 0.5, eps=-1), ValueError, "must be > 0"),
    "magnify eps=nan": (lambda: adv.magnify(P - 0.5, eps=NAN), ValueError, "must be > 0"),
    "magnify NaN delta": (lambda: adv.magnify(nan_at_corner(P - 0.5)), ValueError, "NaN"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(CASES, case)
