"""Every tensor a method creates lives on the input's device and has its dtype.

On the ``meta`` device tensors have shapes but no data: a method that builds a CPU tensor (IG's
alphas and weights, SmoothGrad's noise, a baseline, a mask) and mixes it with the input fails with
a device error there -- so these tests fail for such a method, also on a machine without a GPU.
Methods whose computation depends on values (CAM's head check, Score-CAM's constant channels,
Smooth Grad-CAM++'s class check) cannot run on ``meta``; they run on CUDA when one is available.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from vizlab import attribution as A
from vizlab import cam as C

DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()


SHAPE_ONLY = {
    "saliency": lambda m, x: A.saliency(m, x, 1),
    "guided_backprop": lambda m, x: A.guided_backprop(m, x, 1),
    "deconvnet": lambda m, x: A.deconvnet(m, x, [1, 2]),
    "ig_black": lambda m, x: A.integrated_gradients(m, x, 1, steps=2),
    "ig_noise": lambda m, x: A.integrated_gradients(m, x, [1, 2], steps=2, baseline="noise"),
    "ig_blur_delta": lambda m, x: A.integrated_gradients(m, x, 1, steps=2, baseline="blur", return_delta=True)[0],
    "ig_tensor_baseline": lambda m, x: A.integrated_gradients(m, x, 1, steps=2, baseline=torch.zeros(3, 1, 1)),
    "smoothgrad": lambda m, x: A.smoothgrad(A.saliency, m, x, 1, samples=2),
    "smoothgrad_cpu_generator": lambda m, x: A.smoothgrad(A.saliency, m, x, 1, samples=2,
                                                          generator=torch.Generator().manual_seed(0)),
    "grad_cam": lambda m, x: C.grad_cam(m, x, 1, "2"),
    "grad_cam_pp": lambda m, x: C.grad_cam_pp(m, x, 1, "2"),
    "grad_cam_pp_output_fn": lambda m, x: C.grad_cam_pp(m, x, 1, "2", output_fn=torch.exp),
    "layer_cam": lambda m, x: C.layer_cam(m, x, 1, "2"),
}
VALUE_DEPENDENT = {
    "cam": lambda m, x: C.cam(m, x, 1, "2"),
    "score_cam": lambda m, x: C.score_cam(m, x, 1, "2"),
    "smooth_grad_cam_pp": lambda m, x: C.smooth_grad_cam_pp(m, x, 1, "2", samples=2),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(SHAPE_ONLY))
def test_method_stays_on_the_input_device(name, device):
    m = tiny().to(device)
    x = torch.zeros(2, 3, 8, 8, device=device) if device == "meta" else torch.randn(2, 3, 8, 8, device=device)
    out = SHAPE_ONLY[name](m, x)
    assert out.device.type == device and out.dtype == x.dtype
    assert out.shape[0] == 2 and out.shape[-2:] == (8, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(VALUE_DEPENDENT))
def test_value_dependent_method_on_cuda(name):
    m = tiny().cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    out = VALUE_DEPENDENT[name](m, x)
    assert out.device.type == "cuda"
    assert torch.allclose(out.cpu(), VALUE_DEPENDENT[name](tiny(), x.cpu()), atol=1e-4)


@pytest.mark.parametrize("name", list(SHAPE_ONLY))
def test_float64_in_float64_out(name):
    """Item 12: every method keeps the input's dtype."""
    m = tiny().double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert SHAPE_ONLY[name](m, x).dtype == torch.float64
