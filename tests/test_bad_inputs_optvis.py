"""Bad inputs to vizlab.optvis and its explorer get a clear error -- never a silently wrong image,
never a traceback from inside torch.

One table, as in test_bad_inputs.py: case -> (call, expected error type, a phrase the message must
contain). Tiny random models keep it fast; each group names the bug of issue 19 it comes from
(numbers from the review of the newer modules).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from vizlab import optvis
from vizlab.optvis import objectives as O
from vizlab.optvis import param as P
from vizlab.optvis import transforms as T
from vizlab.widgets.optvis import ActivationMaxExplorer
from conftest import assert_clear_error, tiny


class Unused(nn.Module):
    """A layer that is defined but never called by forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.unused = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


M = tiny()
BIG_KERNEL = nn.Sequential(nn.Conv2d(3, 4, 5), nn.Flatten()).eval()  # needs at least 5 x 5 pixels
NAN, INF = float("nan"), float("inf")
PIX = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def gen():
    return torch.Generator().manual_seed(0)


def run(objective=None, model=M, **kw):
    """One short render on ``model`` (defaults: channel 0 of layer "1", pixels 8 px, no transforms)."""
    options = dict(param=P.pixels(8, generator=gen()), transforms=[], steps=2, progress=False)
    options.update(kw)
    return optvis.render(model, O.channel("1", 0) if objective is None else objective, **options)


CASES = {
    # 17. model/input mismatches
    "model=None": (lambda: run(model=None), TypeError, "torch.nn.Module"),
    "render on too small an image": (lambda: run(O.channel("0", 0), model=BIG_KERNEL, param=P.pixels(3)),
                                     ValueError, "cannot run on an input of shape"),
    "score of float64 pixels on a float32 model": (lambda: optvis.score(M, O.channel("1", 0), PIX.double()),
                                                   ValueError, "x.float()"),
    "invert of float64 input": (lambda: optvis.invert(M, PIX.double(), "1", steps=1, progress=False), ValueError,
                                "x.float()"),
    # 18. counts and steps
    "render steps=2.5": (lambda: run(steps=2.5), ValueError, "whole number"),
    "render steps=-1": (lambda: run(steps=-1), ValueError, "steps"),
    "invert steps=2.5": (lambda: optvis.invert(M, PIX, "1", steps=2.5, progress=False), ValueError, "whole number"),
    "render lr=-0.1": (lambda: run(lr=-0.1), ValueError, "lr"),
    "render lr=nan": (lambda: run(lr=NAN, optimizer="sgd"), ValueError, "finite number > 0"),
    "lr<0 with normalized does not minimise": (lambda: run(lr=-0.1, optimizer="normalized"), ValueError,
                                               "maximises"),
    "invert lr=0": (lambda: optvis.invert(M, PIX, "1", steps=1, lr=0, progress=False), ValueError, "lr"),
    "explorer block=0": (lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=1, block=0), ValueError, "block"),
    "explorer steps=2.5": (lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=2.5), ValueError, "whole number"),
    "explorer lr=nan": (lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=1, lr=NAN), ValueError, "lr"),
    "explorer float channel": (lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=1).render("1", 2.5),
                               TypeError, "whole number"),
    "explorer on a 2-D layer": (lambda: ActivationMaxExplorer(M, ["6"], size=8, steps=1), ValueError,
                                "convolutional layer"),
    # 19. images that score and pixels(init=) take
    "score of NaN pixels": (lambda: optvis.score(M, O.channel("1", 0), torch.full((1, 3, 8, 8), NAN)), ValueError,
                            "NaN"),
    "score of uint8 pixels": (lambda: optvis.score(M, O.channel("1", 0), (PIX * 255).byte()), ValueError,
                              "x.float() / 255"),
    "score of a normalised input": (lambda: optvis.score(M, O.channel("1", 0), PIX * 4 - 2), ValueError, "[0, 1]"),
    "score of one image without batch": (lambda: optvis.score(M, O.channel("1", 0), PIX[0]), ValueError,
                                         "x[None]"),
    "pixels init uint8": (lambda: P.pixels(8, init=(PIX * 255).byte()), ValueError, "float pixels"),
    "pixels init normalised": (lambda: P.pixels(8, init=PIX * 4 - 2), ValueError, "[0, 1]"),
    "pixels init NaN": (lambda: P.pixels(8, init=torch.full((1, 3, 8, 8), NAN)), ValueError, "NaN"),
    # 20. objectives
    "objective of shape [N, C]": (lambda: run(O.Objective(lambda a: a["1"].mean((2, 3)), "v", ["1"])), ValueError,
                                  "one score per image, shape [1]"),
    "objective returning a float": (lambda: run(O.Objective(lambda a: 1.0, "f", ["1"])), TypeError,
                                    "returned float"),
    "channels(layer, [])": (lambda: O.channels("1", []), ValueError, "at least one channel"),
    "objective * nan": (lambda: O.channel("1", 0) * NAN, ValueError, "multiplied by nan"),
    "objective * inf": (lambda: O.channel("1", 0) * INF, ValueError, "multiplied by inf"),
    "objective + nan": (lambda: O.channel("1", 0) + NAN, ValueError, "finite weight"),
    "objective / 0": (lambda: O.channel("1", 0) / 0, ValueError, "divided by 0"),
    "channel 2.5": (lambda: O.channel("1", 2.5), TypeError, "whole number"),
    "class_logit(3.0)": (lambda: O.class_logit(3.0), TypeError, "whole number"),
    "class_logit by name, called without a model": (lambda: O.class_logit("tabby")({"logits": torch.zeros(1, 5)}),
                                                    ValueError, "vizlab.class_index(model, 'tabby')"),
    "class_logit by name, model without names": (lambda: run(O.class_logit("tabby")), KeyError, "class index"),
    "neuron out of bounds": (lambda: run(O.neuron("1", 0, 99, 99)), ValueError, "outside the 8 x 8 map"),
    "neuron at a negative position": (lambda: O.neuron("1", 0, -1, 0), ValueError, "y must be >= 0"),
    "neuron on a 2-D layer": (lambda: run(O.neuron("6", 0)), ValueError, "spatial output"),
    "direction with a NaN vector": (lambda: O.direction("1", torch.tensor([1.0, NAN, 0.0, 0.0])), ValueError,
                                    "NaN"),
    "direction with a zero vector": (lambda: O.direction("1", torch.zeros(4)), ValueError, "all zero"),
    "direction of the wrong length": (lambda: run(O.direction("1", torch.ones(3))), ValueError, "4 channels"),
    "total_variation beta=0": (lambda: O.total_variation(beta=0), ValueError, "beta > 0"),
    "objective not computed from the image": (lambda: run(O.Objective(lambda a: a["1"].mean((1, 2, 3)).detach(),
                                                                      "d", ["1"])), ValueError, "not computed"),
    # 21. transforms, params and render options
    "jitter larger than the image": (lambda: run(param=P.pixels(16), transforms=[T.jitter(40)]), ValueError,
                                     "jitter(40)"),
    "jitter(2.5)": (lambda: T.jitter(2.5), ValueError, "whole number"),
    "random_scale([])": (lambda: T.random_scale([]), ValueError, "at least one value"),
    "random_scale([-1])": (lambda: T.random_scale([-1]), ValueError, "> 0"),
    "random_rotate([])": (lambda: T.random_rotate([]), ValueError, "at least one value"),
    "random_rotate([nan])": (lambda: T.random_rotate([NAN]), ValueError, "finite"),
    "blur(nan)": (lambda: T.blur(NAN), ValueError, "sigma"),
    "gaussian_blur(nan)": (lambda: T.gaussian_blur(PIX, NAN), ValueError, "sigma"),
    "pad mode bogus": (lambda: T.pad(4, mode="bogus"), ValueError, "'reflect'"),
    "pad(-20)": (lambda: T.pad(-20), ValueError, "pad width"),
    "reflect pad wider than the image": (lambda: T.pad(8, mode="reflect")(PIX), ValueError, "mode='constant'"),
    "transforms='standard'": (lambda: run(transforms="standard"), TypeError, "transforms.standard()"),
    "a non-callable in transforms": (lambda: run(transforms=[T.jitter(2), 3]), TypeError, "transforms[1]"),
    "post_step=5": (lambda: run(post_step=5), TypeError, "post_step"),
    "optimizer factory returning None": (lambda: run(optimizer=lambda params: None), TypeError,
                                         "returned NoneType"),
    "optimizer name typo": (lambda: run(optimizer="adamw"), ValueError, "'normalized'"),
    "param that is not an ImageParam": (lambda: run(param=torch.zeros(1, 3, 8, 8)), TypeError, "ImageParam"),
    "generator='0'": (lambda: run(generator="0"), TypeError, "torch.Generator"),
    "pixels(2.5)": (lambda: P.pixels(2.5), ValueError, "whole number"),
    "fft(16, batch=2.5)": (lambda: P.fft(16, batch=2.5), ValueError, "batch"),
    "pixels negative width": (lambda: P.pixels(16, -4), ValueError, "width"),
    "fft negative width": (lambda: P.fft(16, -4), ValueError, "width"),
    "pixels sd=nan": (lambda: P.pixels(16, sd=NAN), ValueError, "sd"),
    "fft sd=nan": (lambda: P.fft(16, sd=NAN), ValueError, "sd"),
    "fft decay_power=nan": (lambda: P.fft(16, decay_power=NAN), ValueError, "decay_power"),
    "fft NaN spectrum": (lambda: P.fft(4, spectrum=torch.full((1, 3, 4, 3, 2), NAN)), ValueError, "finite"),
    "invert tv_weight=nan": (lambda: optvis.invert(M, PIX, "1", steps=1, tv_weight=NAN, progress=False), ValueError,
                             "tv_weight"),
    "invert of two layers": (lambda: optvis.invert(M, PIX, ["1", "3"], steps=1, progress=False), TypeError,
                             "one layer"),
    # dataset examples beside the render (issue 22 item 2)
    "explorer examples of a layer it does not show": (
        lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=1, pool=[PIX]).examples("3", 0), KeyError,
        "not one of this explorer's layers"),
    "explorer examples channel out of range": (
        lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=1, pool=[PIX]).examples("1", 9), IndexError,
        "4 channels (0..3)"),
    "explorer examples from a pool of grey images": (
        lambda: ActivationMaxExplorer(M, ["1"], size=8, steps=1, pool=[PIX[:, :1]]).examples("1", 0), ValueError,
        "channel"),
    # 22. a layer that never runs
    "render of a layer that never runs": (lambda: run(O.channel("unused", 0), model=Unused().eval(),
                                                      param=P.pixels(16)), ValueError,
                                          "were not called in the forward pass"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(CASES, case)
