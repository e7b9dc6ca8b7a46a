"""The references of the chapters' graded exercises that are more than a call of a function the chapter teaches.

A check cell compares the student's function with a reference (``vizlab.exercises.check``). Where the reference is
a library function the chapter already teaches (``st.gram_matrix``), the check cell names it. Where it had to be
written out (a loop, a formula no library function computes, an experiment and its control), it lives here rather
than in the check cell, so that the student version -- which keeps check cells unchanged -- does not print the answer
right below the exercise. The check cell imports this module itself::

    from vizlab import exercise_references as _refs
    _check("texture_steps", texture_steps, _refs.ex11_8_texture_steps, cases, ...)

One function per exercise, named after the exercise's grade id. The grader forbids, while the student's function
runs, the reference and the vizlab functions that the *check cell's* code calls directly; the library functions one
of these references calls are library-internal to it, so the check cell names them in ``forbid=`` (each function's
docstring says which), and ``allow=`` keeps the helpers an exercise hands out usable, exactly as when the reference
sat in the check cell.
"""
from __future__ import annotations

import torch

from . import style as st
from .hooks import capture

__all__ = ["ex11_7_masked_gram", "ex11_8_texture_steps", "ex11_9_gram_experiment"]


# -- chapter 11: style transfer ---------------------------------------------------------------------------------

def ex11_7_masked_gram(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Gram matrix with a weight per position: sum_p m_p F_ip F_jp / (C * sum_p m_p), per image.
    Check cell: ``forbid=[st.gram_matrix]``."""
    return st.gram_matrix(f * m[:, None].sqrt(), normalize=False) / (f.shape[1] * m.sum(dim=(1, 2))).view(-1, 1, 1)


def ex11_8_texture_steps(net, target, x0, steps, lr):
    """``steps`` steps of plain gradient descent on the pixels against the style loss of ``net(x)``.
    Check cell: ``forbid=[st.style_loss]``."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(st.style_loss([net(x)], [0], [target], [1.0]), x)
        x = (x - lr * grad).detach()
    return x


def ex11_9_gram_experiment(model, layer, x, perm, perms):
    """Relative change ||G' - G|| / ||G|| of the normalised Gram matrix (double precision) when all channels'
    positions are reordered alike (``perm``: the measure) and when each channel gets its own (``perms``: the control).
    Check cell: nothing to forbid (``capture``, ``Captured.__getitem__``, ``st.gram_matrix`` are handed out)."""
    A = capture(model, x, layer)[layer].double()
    F = A.reshape(A.shape[1], -1)
    G = st.gram_matrix(A)

    def change(F2):
        return (st.gram_matrix(F2.reshape(A.shape)) - G).norm() / G.norm()
    return torch.stack([change(F[:, perm]), change(F.gather(1, perms))])
