"""Fitted patterns in another framework's weight layout (``docs/conventions.md#pattern-export``).

A pattern ``a`` of a kernel layer has the layer's weight shape (``a[j]`` is neuron ``j``'s pattern,
``docs/math.md#estimators``), so it moves between frameworks exactly like the weight
(:mod:`refpattern.interop.layouts`):

- :func:`export_patterns` ``(patterns, net, layout)``: per kernel layer the estimator's arrays
  (``a`` for S_w, S_a, random; ``a_plus`` and ``a_minus`` for S_a±) in ``"torch"`` layout
  (refpattern's own: Dense ``(out, in)``, Conv2D ``(out, in, kh, kw)``) or ``"keras"`` layout
  (Dense ``(in, out)``, Conv2D ``(kh, kw, in, out)``, and the first Dense after a Flatten of a
  ``(C, H, W)`` map with its inputs in Keras' ``(H, W, C)`` order, which is why the network is
  needed);
- :func:`innvestigate_patterns` ``(patterns, net)``: the list iNNvestigate 1.x's PatternNet and
  PatternAttribution take as ``patterns=``.

What iNNvestigate 1.x expects was read in ``albermax/innvestigate`` (the 1.x tree,
``innvestigate/tools/pattern.py`` and ``innvestigate/analyzer/pattern_based.py``):

- ``PatternComputer.compute_generator`` returns, for a single ``pattern_type``, a list with one
  pattern per layer that ``contains_kernel``, in the order of the model's execution trace
  (``kgraph.trace_model_execution``), i.e. forward order for a sequential model;
- each pattern is ``LinearPattern.compute_pattern``'s ``A.reshape(W.shape)`` with
  ``W = kgraph.get_kernel(layer)``: Keras' kernel layout, ``(in, out)`` for Dense and
  ``(kh, kw, in, out)`` for Conv2D, its statistics read on Keras' own (channels-last, flattened
  ``(H, W, C)``) inputs;
- ``pattern_type="relu"`` (the analyzers' default) is ``ReLUPositivePattern``: the mask is
  "output > 0" (the activation found after the layer; the bias included), the means of ``x`` and
  ``xy`` are taken over the masked observations and the mean of ``y`` over all of them —
  refpattern's ``a₊`` of S_a± with ``variant="paper"``; ``"linear"`` is S_a.  There is one pattern
  per layer: the closed-gate ``a₋`` is never used (``docs/conventions.md#output-pattern``);
- ``PatternNet._get_pattern_for_layer`` picks ``patterns[i]`` for the ``i``-th kernel layer of
  ``get_model_layers``; ``PatternNetReverseKernelLayer`` puts it in place of the weight with its
  shape; ``PatternAttribution._prepare_pattern`` multiplies it by the kernel itself, so the list
  holds the patterns, not ``w ⊙ a``.

Every function returns new arrays; nothing passed in is modified.
"""

from __future__ import annotations

import numpy as np

from refpattern.interop.layouts import LAYOUTS, conv_weight_to_keras, dense_weight_to_keras, flattened_inputs
from refpattern.network.conv2d import Conv2D
from refpattern.network.sequential import Sequential


def _checked(patterns, net, where: str):
    if not isinstance(net, Sequential):
        raise TypeError(f"{where}: net must be a refpattern.Sequential, got {type(net).__name__}")
    if not hasattr(patterns, "check_network") or not hasattr(patterns, "estimator"):
        raise TypeError(f"{where}: patterns must be a refpattern.Patterns (from fit_patterns or Patterns.load), got "
                        f"{type(patterns).__name__}")
    patterns.check_network(net)  # the same kernel layers and shapes (a warning if the weights differ)
    fields = tuple(patterns.estimator.fields)
    if not fields:
        raise ValueError(f"{where}: estimator {patterns.estimator.name!r} has no fixed pattern to export (S_x: the "
                         "signal is the input itself, S_x(x) = x)")
    return fields


def export_patterns(patterns, net, layout: str = "torch", input_shape=None) -> list:
    """The patterns of every kernel layer of ``net`` in ``layout``, in forward order.

    Parameters
    ----------
    patterns : Patterns
        Fitted for ``net`` (:meth:`~refpattern.patterns.Patterns.check_network` is called).
    net : Sequential
    layout : {"torch", "keras"}
        ``"torch"``: refpattern's (= PyTorch's) weight layout, ``(out, in)`` and
        ``(out, in, kh, kw)``.  ``"keras"``: ``(in, out)`` and ``(kh, kw, in, out)``, the first
        Dense after a Flatten of a ``(C, H, W)`` map with its input axis in ``(H, W, C)`` order
        (:func:`~refpattern.interop.layouts.dense_weight_to_keras`).
    input_shape : tuple, optional
        Per-sample input ``(C, H, W)``, default ``net.input_shape``; the Keras layout needs it
        when a Flatten of an image feeds a Dense layer.

    Returns
    -------
    list of dict, one per kernel layer ``k``: ``"kernel_index"`` (``k``), ``"index"`` (its
    position in ``net.layers``), ``"type"`` (``"Dense"`` or ``"Conv2D"``), ``"flattened_from"``
    (the ``(C, H, W)`` a Dense reads flattened, else None) and one new float64 array per field of
    the estimator: ``"a"`` (S_w, S_a, random) or ``"a_plus"`` and ``"a_minus"`` (S_a±).  The
    Keras arrays fit ``layer.kernel`` of the matching Keras layer, so ``dense_weight_from_keras``
    / ``conv_weight_from_keras`` give the torch arrays back.
    """
    fields = _checked(patterns, net, "export_patterns")
    if layout not in LAYOUTS:
        raise ValueError(f"export_patterns: layout must be one of {LAYOUTS}, got {layout!r}")
    try:
        flattened = flattened_inputs(net, input_shape) if layout == "keras" else {}
    except ValueError as error:
        raise ValueError(f"export_patterns: {error}") from None
    exported = []
    for k, (index, layer) in enumerate(zip(net.kernel_indices, net.kernel_layers)):
        entry = {"kernel_index": k, "index": index, "type": type(layer).__name__,
                 "flattened_from": flattened.get(index)}
        for field in fields:
            value = getattr(patterns[k], field)
            if layout == "torch":
                entry[field] = np.array(value, dtype=np.float64)
            elif isinstance(layer, Conv2D):
                entry[field] = conv_weight_to_keras(value)
            else:
                entry[field] = dense_weight_to_keras(value, flattened[index])
        exported.append(entry)
    return exported


def innvestigate_patterns(patterns, net, input_shape=None) -> list:
    """The list iNNvestigate 1.x's ``PatternNet(model, patterns=…)`` and ``PatternAttribution``
    take: one array per kernel layer in forward order, in Keras' kernel layout — ``(in, out)``
    for Dense (the first after a Flatten of an image with its inputs in ``(H, W, C)`` order),
    ``(kh, kw, in, out)`` for Conv2D — holding the single pattern iNNvestigate uses: ``a₊`` of
    S_a± (its ``pattern_type="relu"``; ``a₋`` has no place there), or ``a`` of a one-pattern
    estimator (S_a is its ``"linear"``).  Module docstring for what was read.

    The patterns are those refpattern fitted on refpattern's inputs; iNNvestigate fits on its own
    (channels-last) inputs, which hold the same observations, so its ``PatternComputer`` gives the
    same arrays up to rounding.
    """
    exported = export_patterns(patterns, net, "keras", input_shape)
    fields = tuple(patterns.estimator.fields)
    field = "a_plus" if "a_plus" in fields else "a"
    if field not in fields:
        raise ValueError(f"innvestigate_patterns: estimator {patterns.estimator.name!r} has the fields {fields}; "
                         "iNNvestigate takes one pattern per layer, 'a' (S_w, S_a, random) or 'a_plus' (S_a±)")
    return [entry[field] for entry in exported]  # no kernel layer: an empty list


__all__ = ["export_patterns", "innvestigate_patterns"]
