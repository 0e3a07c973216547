"""Layers (forward + exact backward, side by side) and the Sequential network."""

from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax, log_softmax, softmax
from refpattern.network.maxpool import MaxPool2D
from refpattern.network.sequential import Sequential

__all__ = ["Conv2D", "Dense", "Flatten", "MaxPool2D", "ReLU", "Sequential", "Softmax", "log_softmax", "softmax"]
