"""Explorers: ipywidgets controls over cached computations (one file per chapter family)."""
from .attribution import *  # noqa: F401,F403
from .cam import *  # noqa: F401,F403
from .features import *  # noqa: F401,F403
from . import attribution as _a, cam as _c, features as _f

__all__ = [*_f.__all__, *_a.__all__, *_c.__all__]
