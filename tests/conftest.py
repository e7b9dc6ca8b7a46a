"""Shared test set-up: no network for the whole session, small deterministic models."""
from __future__ import annotations

import socket

import pytest
import torch


_LOCAL = ("127.0.0.1", "localhost", "::1", "")


class NetworkBlocked(ConnectionRefusedError):
    pass


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """Refuse every socket connection off this machine: a hidden download fails loudly."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in _LOCAL:
            return real_connect(self, address)
        raise NetworkBlocked(f"test tried to connect to {address}")

    socket.socket.connect = guarded_connect
    try:
        yield
    finally:
        socket.socket.connect = real_connect


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One torch thread for the whole test session (restored after): on a busy 2-core machine
    two OpenMP threads can stall a call for seconds, and one thread makes parity exact."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def lite0():
    """The default model, pretrained, loaded once per session (do not modify it in a test)."""
    import vizlab
    return vizlab.load("efficientnet_lite0")


@pytest.fixture(scope="session")
def chelsea_x(lite0):
    import vizlab
    return vizlab.preprocess(vizlab.sample_image("chelsea"), lite0)


def random_resnet18(seed: int = 0) -> torch.nn.Module:
    """torchvision resnet18 with random weights (in-place ReLUs: a hook-hygiene stress test)."""
    import torchvision
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).eval()


def model_state(model: torch.nn.Module) -> dict:
    """Everything a vizlab call must leave as it found it."""
    return {
        "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                   len(getattr(m, "_backward_pre_hooks", {}))) for m in model.modules()],
    }


def assert_untouched(model: torch.nn.Module, before: dict) -> None:
    """No hook left, same flags, bitwise-identical weights, no parameter .grad."""
    after = model_state(model)
    assert after["hooks"] == before["hooks"], "a hook was left on the model"
    assert after["training"] == before["training"], "a training flag changed"
    assert after["requires_grad"] == before["requires_grad"], "a requires_grad flag changed"
    assert all(g is None for g in after["grads"]), "a parameter .grad was created"
    for k, v in before["params"].items():
        assert torch.equal(model.state_dict()[k], v), f"{k} changed"


# --------------------------------------------------------------------------------------------
# The bad-input tables (tests/test_bad_inputs*.py): one tiny net, one model that returns a tuple, one check
# --------------------------------------------------------------------------------------------

def tiny(act: type = torch.nn.ReLU, channels: int = 3, classes: int = 5) -> torch.nn.Module:
    """conv -> act -> conv -> act -> GAP -> linear, random weights (seed 0; the global RNG is left alone)."""
    nn = torch.nn
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), act(), nn.Conv2d(4, 4, 3, padding=1), act(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, classes)).eval()


class TupleOut(torch.nn.Module):
    """A classifier whose forward returns (logits, input): vizlab needs a logits tensor."""

    def __init__(self):
        super().__init__()
        self.net = tiny()

    def forward(self, x):
        return self.net(x), x


def assert_clear_error(cases: dict, case: str) -> None:
    """Run one row of a table ``case -> (call, error type, phrase the message must contain)``."""
    call, kind, phrase = cases[case]
    with pytest.raises(kind) as info:
        call()
    assert phrase in str(info.value), f"{case}: {info.value}"
