"""refpattern: the reference implementation of PatternNet and PatternAttribution.

Kindermans et al., "Learning how to explain neural networks: PatternNet and
PatternAttribution", ICLR 2018, and the explanation methods it measures itself against.
float64 throughout; conventions in ``docs/conventions.md`` and in each docstring.
"""

from refpattern.methods import Composite, explain, method_info, method_names
from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax
from refpattern.patterns import Patterns, fit_patterns, fit_statistics, patterns_from_statistics, rho
from refpattern.train import train

__version__ = "0.1.0"

__all__ = [
    "Composite", "Conv2D", "Dense", "Flatten", "MaxPool2D", "ReLU", "Sequential", "Softmax",
    "Patterns", "explain", "fit_patterns", "fit_statistics", "method_info", "method_names", "patterns_from_statistics",
    "rho", "train",
]
