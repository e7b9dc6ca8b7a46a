"""Bad inputs get a clear error -- never a silently wrong answer, never a traceback from inside torch.

One table: case -> (call, expected error type, a phrase the message must contain). Tiny random
models keep it fast; each case names the item of issue 7 it comes from.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import vizlab as vz
from vizlab import attribution as A
from vizlab import cam as C
from conftest import TupleOut, assert_clear_error, tiny


M = tiny()
X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
X1 = X[:1]
NAN = float("nan")

CASES = {
    # 2. guided rules on non-ReLU activations
    "guided_backprop on Hardswish": (lambda: A.guided_backprop(nn.Sequential(nn.ReLU(), tiny(nn.Hardswish)), X1, 0),
                                     ValueError, "2 Hardswish"),
    "deconvnet on GELU": (lambda: A.deconvnet(nn.Sequential(nn.ReLU(), tiny(nn.GELU)), X1, 0), ValueError, "2 GELU"),
    "guided_grad_cam on SiLU": (lambda: C.guided_grad_cam(nn.Sequential(nn.ReLU(), tiny(nn.SiLU)), X1, 0, "1.2"),
                                ValueError, "allow_mixed_rules=True"),
    "neuron_gradient guided on LeakyReLU": (lambda: A.neuron_gradient(
        nn.Sequential(nn.ReLU(), tiny(nn.LeakyReLU)), X1, "1.3", 0, rule="guided"), ValueError, "LeakyReLU"),
    # 3. a target list must fit the batch
    "IG target too long": (lambda: A.integrated_gradients(M, X, [1, 2, 3], steps=2), ValueError, "batch holds 2"),
    "IG target too short": (lambda: A.integrated_gradients(M, torch.cat([X, X1]), [1, 2], steps=2), ValueError,
                            "batch holds 3"),
    "smoothgrad target too long": (lambda: A.smoothgrad(A.saliency, M, X, [1, 2, 999], samples=2), ValueError,
                                   "batch holds 2"),
    # 4. counts are positive ints
    "score_cam batch_size=-1": (lambda: C.score_cam(M, X1, 0, "2", batch_size=-1), ValueError, "batch_size"),
    "score_cam batch_size=0": (lambda: C.score_cam(M, X1, 0, "2", batch_size=0), ValueError, "at least 1"),
    "smooth_grad_cam_pp batch_size=-1": (lambda: C.smooth_grad_cam_pp(M, X1, 0, "2", batch_size=-1), ValueError,
                                         "batch_size"),
    "smooth_grad_cam_pp samples=2.5": (lambda: C.smooth_grad_cam_pp(M, X1, 0, "2", samples=2.5), ValueError,
                                         "whole number"),
    "IG steps=0": (lambda: A.integrated_gradients(M, X1, 0, steps=0), ValueError, "steps"),
    "IG steps=2.5": (lambda: A.integrated_gradients(M, X1, 0, steps=2.5), ValueError, "whole number"),
    "IG batch_size=0": (lambda: A.integrated_gradients(M, X1, 0, steps=2, batch_size=0), ValueError, "batch_size"),
    "smoothgrad samples=2.5": (lambda: A.smoothgrad(A.saliency, M, X1, 0, samples=2.5), ValueError, "samples"),
    "smoothgrad batch_size=0": (lambda: A.smoothgrad(A.saliency, M, X1, 0, samples=2, batch_size=0), ValueError,
                                "batch_size"),
    # 7. values that used to wrap around, be clipped or be truncated
    "predict k=0": (lambda: vz.predict(M, X1, k=0), ValueError, "k must be at least 1"),
    "class_name -1": (lambda: vz.class_name(M, -1), ValueError, "negative"),
    "class_name 2.5": (lambda: vz.class_name(M, 2.5), TypeError, "int"),
    "position (-1, -1)": (lambda: A.neuron_gradient(M, X1, "1", 0, position=(-1, -1)), ValueError, "outside"),
    "position (999, 999)": (lambda: A.neuron_gradient(M, X1, "1", 0, position=(999, 999)), ValueError,
                            "8 x 8"),
    "position on a 2-D layer": (lambda: A.neuron_gradient(M, X1, "6", 0, position=(0, 0)), ValueError,
                                "spatial"),
    "float target 3.7": (lambda: A.saliency(M, X1, 3.7), TypeError, "whole-number"),
    "float target list": (lambda: C.grad_cam(M, X, [1.5, 2.0], "2"), TypeError, "whole-number"),
    "preprocess with a model name": (lambda: vz.preprocess(np.zeros((8, 8, 3), np.uint8), "efficientnet_lite0"),
                                     TypeError, "vizlab.load('efficientnet_lite0')"),
    "preprocess size=0": (lambda: vz.preprocess(np.zeros((8, 8, 3), np.uint8), M, size=0), ValueError, "size"),
    "negative int image": (lambda: vz.load_image(np.full((4, 4), -3)), ValueError, "0..65535"),
    "int image above 65535": (lambda: vz.load_image(np.full((4, 4), 70000)), ValueError, "0..65535"),
    # 10. inputs that do not fit the model
    "float64 input": (lambda: A.saliency(M, X1.double(), 0), ValueError, "x.float()"),
    "float16 input": (lambda: C.grad_cam(M, X1.half(), 0), ValueError, "float16"),
    "bfloat16 input": (lambda: vz.predict(M, X1.bfloat16()), ValueError, "bfloat16"),
    "wrong channel count": (lambda: C.grad_cam(M, X1[:, :1], 0, "2"), ValueError, "1 channel"),
    "layers(model, x) checks x": (lambda: vz.layers(M, X1.double()), ValueError, "float64"),
    "VGG below 32 px": (lambda: vz.predict(vz.load("vgg11", pretrained=False), torch.zeros(1, 3, 16, 16)),
                        ValueError, "cannot run on an input of shape (1, 3, 16, 16)"),
    # 11. defaults that cannot be derived
    "black baseline, 1 channel": (lambda: A.integrated_gradients(tiny(channels=1), X1[:, :1], 0, steps=2),
                                  ValueError, "baseline=0.0"),
    # 15. messages that name the real problem
    "NaN baseline": (lambda: A.integrated_gradients(M, X1, 0, baseline=torch.full_like(X1, NAN), steps=2),
                     ValueError, "baseline holds NaN"),
    "NaN baseline number": (lambda: A.integrated_gradients(M, X1, 0, baseline=NAN, steps=2), ValueError,
                            "baseline must be finite"),
    "NaN noise": (lambda: A.smoothgrad(A.saliency, M, X1, 0, samples=2, noise=NAN), ValueError, "noise"),
    "NaN std": (lambda: C.smooth_grad_cam_pp(M, X1, 0, "2", std=NAN), ValueError, "std"),
    "class name typo": (lambda: A.saliency(vz.load("resnet18", pretrained=False), torch.zeros(1, 3, 32, 32),
                                           "tabyy"), KeyError, "closest"),
    "class name without names": (lambda: C.grad_cam(M, X1, "tabby", "2"), KeyError, "class index"),
    "unknown method name": (lambda: A.smoothgrad("salency", M, X1, 0, samples=2), ValueError, "saliency"),
    "layer=3": (lambda: C.grad_cam(M, X1, 0, 3), TypeError, "string"),
    "None inside a layer list": (lambda: C.grad_cam(M, X1, 0, ["2", None]), TypeError, "string"),
    "find_layer(3)": (lambda: vz.find_layer(M, 3), TypeError, "string"),
    "detached callable target": (lambda: A.saliency(M, X1, lambda z: z[:, 0].detach()), ValueError,
                                 "not computed from the logits"),
    "IG out of range once": (lambda: A.integrated_gradients(M, X1, 7, steps=4), ValueError,
                             "target class 7 is outside 0..4"),
    "predict on a tuple model": (lambda: vz.predict(TupleOut().eval(), X1), TypeError, "returned tuple"),
    "load(None)": (lambda: vz.load(None), TypeError, "model name"),
    "deprocess(ndarray)": (lambda: vz.deprocess(np.zeros((8, 8, 3))), ValueError, "numpy"),
    "0 x 0 image": (lambda: vz.load_image(np.zeros((0, 0, 3), np.uint8)), ValueError, "empty"),
    "empty batch": (lambda: A.saliency(M, X[:0], 0), ValueError, "empty"),
    "model that is a string": (lambda: A.saliency("resnet18", X1, 0), TypeError, "vizlab.load"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(CASES, case)
