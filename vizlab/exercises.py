"""Checks for the chapters' graded exercises (nbgrader format, CS231n's rule).

Every chapter ends with exercises: a *solution cell* where the student writes a function (the
instructor's answer sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student
version built by ``make student`` replaces it with ``raise NotImplementedError()``), then an
*autograded check cell* that calls :func:`check`::

    vz.exercises.check("grad_cam_weights", grad_cam_weights, reference, cases)

``check`` runs the student's function and the reference on the same fixed inputs and compares
them with CS231n's relative error

    rel_error(a, b) = max |a - b| / max(1e-8, |a| + |b|)     (elementwise, then the maximum)

It prints one line when every case passes and raises ``AssertionError`` (so that nbgrader gives
no points) with what differs and a hint when one does not.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterable

import numpy as np
import torch

__all__ = ["rel_error", "check", "check_value"]


def _numpy(value: Any) -> np.ndarray:
    """``value`` as a numpy array, keeping its dtype: tensors detached (also inside lists), sparse
    tensors made dense, complex kept complex."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.layout != torch.strided:
            t = t.to_dense()
        return t.cpu().resolve_conj().resolve_neg().numpy()
    if isinstance(value, (list, tuple)) and any(isinstance(v, (torch.Tensor, list, tuple)) for v in value):
        return np.asarray([_numpy(v) for v in value])
    return np.asarray(value)


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor) and value.layout == torch.strided and not value.is_complex():
        return value.detach().cpu().double().numpy()
    return np.asarray(_numpy(value), dtype=np.float64)


def _student_array(name: str, label: str, got: Any, tip: str) -> np.ndarray:
    """What the student returned, as float64 numbers -- or an AssertionError with the hint saying
    what came back instead (a dict, a string, a complex number...), never a raw TypeError."""
    def wrong(what: str) -> AssertionError:
        return AssertionError(f"{name}: {label} is {what}; expected numbers, a tensor or array like the "
                              f"reference's.{tip}")
    if isinstance(got, (str, bytes)):
        raise wrong(f"a string ({str(got)[:40]!r})")
    if isinstance(got, Mapping):
        raise wrong(f"a {type(got).__name__} with keys {list(got)[:5]}")
    try:
        a = _numpy(got)
    except (TypeError, ValueError, RuntimeError) as err:
        raise wrong(f"a {type(got).__name__} that cannot be read as numbers ({str(err).splitlines()[0][:80]})") from None
    if a.dtype.kind == "c":
        if np.any(a.imag != 0):
            raise AssertionError(f"{name}: {label} is complex, with a non-zero imaginary part; the answer is "
                                 f"real.{tip}")
        a = a.real
    if a.dtype.kind not in "biuf":
        raise wrong(f"a {type(got).__name__} of {a.dtype} values")
    return a.astype(np.float64)


def rel_error(a: Any, b: Any) -> float:
    """CS231n's relative error: ``max |a - b| / max(1e-8, |a| + |b|)`` over all elements."""
    a, b = _as_array(a), _as_array(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _compare(name: str, label: str, got: Any, want: Any, rtol: float, hint: str) -> None:
    """Raise an AssertionError that says what differs (type, shape, values) and gives the hint."""
    tip = f" Hint: {hint}" if hint else ""
    if got is None:
        raise AssertionError(f"{name}: {label} returned None -- did you forget `return`?{tip}")
    got_a, want_a = _student_array(name, label, got, tip), _as_array(want)
    if got_a.shape != want_a.shape:
        raise AssertionError(f"{name}: {label} has shape {tuple(got_a.shape)}, "
                             f"expected {tuple(want_a.shape)}.{tip}")
    if not np.all(np.isfinite(got_a)):
        raise AssertionError(f"{name}: {label} holds NaN or inf.{tip}")
    err = rel_error(got_a, want_a)
    if not err < rtol:
        raise AssertionError(f"{name}: {label} differs from the reference "
                             f"(relative error {err:.2e}, must be < {rtol:g}).{tip}")


def check(name: str, student_fn: Callable, reference_fn: Callable, cases: Iterable[tuple],
          rtol: float = 1e-3, hint: str = "") -> None:
    """Call ``student_fn(*case)`` and ``reference_fn(*case)`` for each case; compare the results.

    A case is a tuple of positional arguments; each is passed as a fresh copy (tensors cloned) so a
    function that changes its input in place cannot change what the reference sees. Prints
    ``"<name>: passed (N cases)"`` or raises ``AssertionError`` naming the first case that differs.
    A student function that still raises ``NotImplementedError`` fails with "not done yet".
    """
    cases = list(cases)
    for i, case in enumerate(cases):
        label = f"case {i + 1} of {len(cases)}"
        try:
            got = student_fn(*_copy(case))
        except NotImplementedError:
            raise AssertionError(f"{name}: not done yet -- write the function in the cell above.") from None
        want = reference_fn(*_copy(case))
        if isinstance(want, tuple):
            if not isinstance(got, tuple) or len(got) != len(want):
                raise AssertionError(f"{name}: {label} should return a tuple of {len(want)} values.")
            for j, (g, w) in enumerate(zip(got, want)):
                _compare(name, f"{label}, value {j + 1}", g, w, rtol, hint)
        else:
            _compare(name, label, got, want, rtol, hint)
    print(f"{name}: passed ({len(cases)} cases)")


def check_value(name: str, got: Any, want: Any, rtol: float = 1e-3, hint: str = "") -> None:
    """Compare one value the student computed with the reference value; print or raise as :func:`check`."""
    _compare(name, "the result", got, want, rtol, hint)
    print(f"{name}: passed")


def _copy(case: tuple) -> tuple:
    return tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in case)
