"""Two threads explaining one model get the answers they would get one after the other.

Hooks and training flags live on the model's modules, which threads share; every vizlab entry
point holds the model's re-entrant lock (``vizlab.hooks.model_lock``) while it changes them.
Calls on different models take different locks and run in parallel.
"""
from __future__ import annotations

import threading

import torch

import vizlab as vz
from vizlab import hooks

from conftest import assert_untouched, model_state, random_resnet18

X = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _run_together(jobs: dict, repeats: int = 6) -> dict:
    """Run each job ``repeats`` times in its own thread, all threads at once; {name: [results]}."""
    results = {name: [] for name in jobs}
    errors = []
    start = threading.Barrier(len(jobs))

    def worker(name):
        try:
            start.wait()
            for _ in range(repeats):
                results[name].append(jobs[name]())
        except BaseException as err:  # reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    return results


def test_saliency_beside_guided_backprop_and_grad_cam_beside_grad_cam():
    m = random_resnet18()
    before = model_state(m)
    jobs = {
        "saliency": lambda: vz.saliency(m, X, 3),
        "guided": lambda: vz.guided_backprop(m, X, 3),
        "grad_cam": lambda: vz.grad_cam(m, X, 3, "layer3"),
        "grad_cam_2": lambda: vz.grad_cam(m, X, 5, "layer3"),
    }
    alone = {name: job() for name, job in jobs.items()}
    together = _run_together(jobs)
    for name, runs in together.items():
        for r in runs:
            assert torch.allclose(r, alone[name], rtol=1e-5, atol=1e-7), name
    assert_untouched(m, before)


def test_eval_mode_on_a_train_mode_model_in_two_threads():
    """Batch-norm statistics and training flags come back exactly, however the threads interleave."""
    m = random_resnet18().train()
    before = model_state(m)
    jobs = {"a": lambda: vz.grad_cam(m, X, 1, "layer4"), "b": lambda: vz.saliency(m, X, 2)}
    alone = {name: job() for name, job in jobs.items()}
    together = _run_together(jobs, repeats=4)
    for name, runs in together.items():
        for r in runs:
            assert torch.allclose(r, alone[name], rtol=1e-5, atol=1e-7), name
    assert_untouched(m, before)


def test_calls_on_different_models_do_not_wait_for_each_other():
    a, b = random_resnet18(0), random_resnet18(1)
    done = {}

    def explain(name, model):
        done[name] = vz.saliency(model, X, 0)

    with hooks.model_lock(a):  # as if a long call on model a were running
        other = threading.Thread(target=explain, args=("b", b))
        other.start()
        other.join(timeout=600)
        assert "b" in done, "a call on model b waited for model a's lock"
        same = threading.Thread(target=explain, args=("a", a))
        same.start()
        same.join(timeout=0.2)
        assert "a" not in done, "a call on model a ran while its lock was held"
    same.join(timeout=600)
    assert "a" in done


def test_the_lock_is_reentrant_and_per_model():
    a, b = random_resnet18(0), random_resnet18(1)
    assert hooks.model_lock(a) is hooks.model_lock(a)
    assert hooks.model_lock(a) is not hooks.model_lock(b)
    with hooks.model_lock(a), hooks.eval_mode(a):  # nested entry points do not deadlock
        vz.capture(a, X, "layer1")
