"""Explorers: ipywidgets controls over cached computations (one file per chapter family).

Each explorer computes once per photo (or per setting it cannot avoid recomputing) and re-renders
a PNG when a slider moves; ``explorer.render(...)`` returns the same picture as an array, so the
page still teaches when read without a kernel.
"""
from .attribution import DeconvnetExplorer, IntegratedGradientsExplorer, SaliencyExplorer, SmoothGradExplorer
from .cam import CamExplorer
from .features import FeatureMapExplorer
from .optvis import ActivationMaxExplorer

__all__ = ["FeatureMapExplorer", "DeconvnetExplorer", "SaliencyExplorer", "SmoothGradExplorer",
           "IntegratedGradientsExplorer", "CamExplorer", "ActivationMaxExplorer"]
