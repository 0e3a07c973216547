"""refpattern: the reference implementation of PatternNet and PatternAttribution.

Kindermans et al., "Learning how to explain neural networks: PatternNet and
PatternAttribution", ICLR 2018, and the explanation methods it measures itself against.
float64 throughout; conventions in ``docs/paper.md`` and in each docstring.
"""

from refpattern.methods import Composite, explain, method_names
from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax

__version__ = "0.1.0"

__all__ = [
    "Composite", "Conv2D", "Dense", "Flatten", "MaxPool2D", "ReLU", "Sequential", "Softmax",
    "explain", "method_names",
]
