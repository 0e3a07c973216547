"""``refpattern.explain``: one entry point for every method.

Besides dispatching, ``explain`` is where a method's options and its numbers are guarded
(``docs/conventions.md#scale``):

- every option with a range is checked by name before a rule is built
  (:data:`OPTION_CHECKS`: ``epsilon``, ``stabilizer``, ``alpha``, ``beta``, ``steps``, ``low``,
  ``high``, ``baseline``; SmoothGrad checks its own in :mod:`refpattern.methods.smoothgrad`);
- the forward pass checks the input of every kernel layer against the magnitudes float64 carries
  (:meth:`~refpattern.network.sequential.Sequential.trace`);
- every step of the backward pass that could overflow is run through :class:`FiniteSignal`, so
  that an overflow raises a ``ValueError`` naming the method, the layer and the magnitude instead
  of returning inf or NaN (a finite input never gives a non-finite explanation silently).  The
  steps that cannot (:func:`keeps_signal_finite`: the ReLU rules, flatten, max-pooling without
  overlapping windows) pass a finite signal on unscanned: the signal placed on the logits is finite
  (the forward pass bounds every kernel layer's output), and every step after it is either checked
  or proven to keep it finite.
"""

from __future__ import annotations

import numpy as np

from refpattern.methods.backprop import modified_backward, start_signal
from refpattern.methods.composite import Composite
from refpattern.methods.integrated_gradients import check_baseline
from refpattern.methods.registry import GRADIENT_METHODS, METHODS, canonical_name
from refpattern.methods.relu_rules import DeconvReLU, GatedReLU, GuidedReLU, LayerBackward, PassReLU
from refpattern.methods.rule import Rule
from refpattern.methods.rules import check_bound_shape
from refpattern.methods.targets import resolve_targets
from refpattern.network.elementwise import Flatten
from refpattern.network.maxpool import MaxPool2D
from refpattern.network.sequential import Sequential
from refpattern.network.validation import (
    LARGEST_MAGNITUDE,
    all_finite,
    as_float_array,
    check_count,
    check_level,
    check_options,
    peak_magnitude,
)


def _bound(value, name):
    """``low``/``high`` of z^B: None, or finite real values (a scalar or an array; never masked) of
    at most :data:`~refpattern.network.validation.LARGEST_MAGNITUDE`, like the inputs they bound."""
    if value is None:
        return None
    value = as_float_array(value, name)
    if peak_magnitude(value) > LARGEST_MAGNITUDE:
        raise ValueError(f"{name}: reaches magnitude {peak_magnitude(value):.4g}, above the largest refpattern "
                         f"accepts, 2^960 ≈ {LARGEST_MAGNITUDE:.4g}")
    return value


#: Checks of the options that have a range, by option name: ``check(value, name) -> value``, where
#: ``name`` reads "<method> option <option>" in the message.  Stabilisers and ε are finite and
#: >= 0 (``docs/conventions.md#stabilisers``), α >= 1 and β >= 0 (the rule checks α − β = 1), IG's
#: ``steps`` an int >= 1; the bounds of z^B and IG's baseline real, finite and never masked.
OPTION_CHECKS = {
    "epsilon": check_level,
    "stabilizer": check_level,
    "alpha": lambda value, name: check_level(value, name, 1.0),
    "beta": check_level,
    "steps": lambda value, name: None if value is None else check_count(value, name),  # None: IG's default
    "low": _bound,
    "high": _bound,
    "baseline": as_float_array,
}


def check_method_options(method: str, options: dict) -> dict:
    """The options with every entry of :data:`OPTION_CHECKS` checked (``TypeError``/``ValueError``
    naming the method, the option and the accepted range); the others are passed on as given."""
    return {option: OPTION_CHECKS[option](value, f"{method} option {option}") if option in OPTION_CHECKS else value
            for option, value in options.items()}


#: Checks of the options whose shape must fit the inputs, by option name: ``check(value, name, x_shape)``
#: for inputs ``x`` shaped ``x_shape`` (N, …), raising what ``explain`` would raise on such an ``x``.
OPTION_SHAPE_CHECKS = {
    "baseline": lambda value, name, x_shape: check_baseline(value, x_shape),
    "low": lambda value, name, x_shape: None if value is None else check_bound_shape(value, name, x_shape),
    "high": lambda value, name, x_shape: None if value is None else check_bound_shape(value, name, x_shape),
}


def check_option_shapes(options: dict, x_shape: tuple) -> None:
    """Raise the ``ValueError``/``TypeError`` :func:`explain` raises for inputs shaped ``x_shape`` (N, …)
    where an option of :data:`OPTION_SHAPE_CHECKS` does not fit them, before any input is read (the
    command line checks its options so)."""
    for option, value in options.items():
        if option in OPTION_SHAPE_CHECKS:
            OPTION_SHAPE_CHECKS[option](value, option, x_shape)


def prepare_method(net, method, options: dict) -> tuple:
    """``(name, composite, run, options)``: what :func:`explain` makes of ``method`` and ``options``
    before it reads ``x``.  ``options`` are checked (:func:`~refpattern.network.validation.check_options`,
    :func:`check_method_options`) and, for a composite method, its rules built for ``net`` (so that an
    option only a rule refuses, such as lrp.zb's missing bounds, raises here); ``composite`` is None
    for a gradient method (then ``run`` is its function of :data:`~refpattern.methods.registry.GRADIENT_METHODS`
    and ``options`` its checked options, defaults filled in), ``run`` None otherwise."""
    if isinstance(method, Composite):
        if options:
            raise ValueError(f"a Composite takes no options, got {sorted(options)}")
        return "Composite", method, None, options
    name = canonical_name(method)
    if name in METHODS:
        builder, defaults = METHODS[name]
        return name, builder(check_method_options(name, check_options(name, options, defaults)), net), None, options
    run, defaults = GRADIENT_METHODS[name]
    return name, None, run, check_method_options(name, check_options(name, options, defaults))


class FiniteSignal(Rule):
    """A rule whose result must be finite: ``rule.backward`` and a ``ValueError`` naming the
    method, the layer and the magnitudes if it overflowed (``docs/conventions.md#scale``)."""

    def __init__(self, rule, method: str, index: int):
        self.rule, self.method, self.index = rule, method, int(index)

    def backward(self, layer, x, output, upstream, backend=None):
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, naming the layer
            downstream = self.rule.backward(layer, x, output, upstream, backend)
        if not (isinstance(downstream, np.ndarray) and downstream.dtype == np.float64 and downstream.shape == x.shape):
            got = (f"{type(downstream).__name__} of dtype {downstream.dtype} and shape {downstream.shape}"
                   if isinstance(downstream, np.ndarray) else type(downstream).__name__)
            raise TypeError(f"explain {self.method!r}: rule {type(self.rule).__name__} at layer {self.index} "
                            f"({layer!r}) returned {got}; a rule returns a float64 numpy.ndarray shaped like the "
                            f"layer's input, {x.shape}")
        if not all_finite(downstream):
            raise ValueError(f"explain {self.method!r}: the backward pass overflows float64 at layer {self.index} "
                             f"({layer!r}, rule {type(self.rule).__name__}): the signal it passes down is not finite "
                             f"(the signal from above reaches magnitude {peak_magnitude(upstream):.4g}, the layer's "
                             f"input {peak_magnitude(x):.4g}); rescale the data or choose a larger stabiliser")
        return downstream


#: Rules each of whose output entries is an entry of the signal from above, 0, or ``max(entry, 0)``:
#: a finite signal stays finite (exact types: a subclass may compute something else).
ENTRYWISE_RULES = (GatedReLU, DeconvReLU, GuidedReLU, PassReLU)


def keeps_signal_finite(rule, layer) -> bool:
    """Whether ``rule`` on ``layer`` passes a finite signal on finite, whatever its values, so that
    its result need not be scanned: the ReLU rules (:data:`ENTRYWISE_RULES`), a flatten's reshape,
    and max-pooling's routing where no two windows overlap (each input gets at most one entry)."""
    if type(rule) in ENTRYWISE_RULES:
        return True
    if type(rule) is LayerBackward:
        if type(layer) is Flatten:
            return True
        if type(layer) is MaxPool2D:
            return all(stride >= size for stride, size in zip(layer.stride, layer.size))
    return False


class FiniteComposite:
    """A composite whose every rule that could overflow is wrapped in :class:`FiniteSignal` (what
    :func:`~refpattern.methods.backprop.modified_backward` asks of a composite: ``rule_for``); the
    others (:func:`keeps_signal_finite`) run as they are."""

    def __init__(self, composite: Composite, method: str):
        self.composite, self.method, self.start = composite, method, composite.start

    def rule_for(self, index: int, layer, net) -> Rule:
        rule = self.composite.rule_for(index, layer, net)
        return rule if keeps_signal_finite(rule, layer) else FiniteSignal(rule, self.method, index)


def explain(net, x, method, target=None, *, backend=None, **options):
    """Explain the pre-softmax logit ``y_t`` of each sample in ``x``.

    Parameters
    ----------
    net : Sequential
    x : ndarray of floats, shape (N, …)
        A batch; never modified.  Read as :meth:`Sequential.check_input` says
        (``docs/conventions.md#input-acceptance``): any float dtype and memory layout, subclasses
        such as ``numpy.matrix`` as their plain values, masked entries refused.
    method : str or Composite
        One of :func:`refpattern.method_names` (iNNvestigate's names are accepted as aliases),
        or a :class:`~refpattern.methods.Composite` of your own rules.
    target : None, int or sequence of N ints
        ``None`` explains the argmax logit of each sample.
    backend : {"numpy", "numba", "cuda"}, optional
        Where the heavy kernels run; every backend gives the same numbers.
    **options
        Method options (``epsilon=``, ``alpha=``, ``patterns=``, ``steps=``, …); an unknown
        option raises a ``ValueError`` that lists the accepted ones, a value out of its range one
        that names the option and the range.

    Returns
    -------
    ndarray, float64, shaped like ``x``; always finite: a float64 overflow anywhere (forward or
    backward) raises a ``ValueError`` naming the method, the layer and the magnitude.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
    x = net.check_input(x)
    name, composite, run, options = prepare_method(net, method, options)
    context = f"explain {name!r}"

    activations = net.trace(x, backend, check=False, context=context)
    targets = resolve_targets(activations[-1], target)
    if composite is not None:
        composite.check_network(net)
        signal = start_signal(activations[-1], targets, composite.start)
        return modified_backward(net, activations, signal, FiniteComposite(composite, name), backend)

    gradient = FiniteComposite(Composite(), name)

    def gradient_at(points, point_activations=None):
        """Gradient of each sample's fixed target logit at ``points`` (shaped like x)."""
        if point_activations is None:
            point_activations = net.trace(points, backend, check=False, context=f"{context} (at the points it "
                                          "evaluates the gradient)")
        signal = start_signal(point_activations[-1], targets, "one")
        return modified_backward(net, point_activations, signal, gradient, backend)

    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
        result = run(gradient_at, x, activations, options)
    if not all_finite(result):
        raise ValueError(f"{context}: the result overflows float64 (the input reaches magnitude "
                         f"{peak_magnitude(x):.4g}); rescale the data")
    return result


def logit_of_target(net, x, target=None, backend=None) -> np.ndarray:
    """``y_t`` per sample: the explained logit (argmax unless ``target`` is given)."""
    logits = net.logits(x, backend)
    targets = resolve_targets(logits, target)
    return logits[np.arange(len(targets)), targets]
