"""Explorers: ipywidgets controls over cached computations (one file per chapter family).

Each explorer computes once per photo (or per setting it cannot avoid recomputing) and re-renders
a PNG when a slider moves; ``explorer.render(...)`` returns the same picture as an array, so the
page still teaches when read without a kernel.
"""
from .adversarial import AdversarialExplorer
from .attribution import DeconvnetExplorer, IntegratedGradientsExplorer, SaliencyExplorer, SmoothGradExplorer
from .cam import CamExplorer
from .embed import TsneExplorer
from .evaluate import EvaluationExplorer
from .features import FeatureMapExplorer
from .optvis import ActivationMaxExplorer
from .style import StyleExplorer

__all__ = ["FeatureMapExplorer", "DeconvnetExplorer", "SaliencyExplorer", "SmoothGradExplorer",
           "IntegratedGradientsExplorer", "CamExplorer", "TsneExplorer", "ActivationMaxExplorer",
           "EvaluationExplorer", "StyleExplorer", "AdversarialExplorer"]
