"""The one shape every backward rule has (as zennit gives every rule one hook contract).

A rule knows one layer-level formula and nothing about which layer it is applied to; which rule
applies where is a :class:`~refpattern.methods.composite.Composite`.
"""

from __future__ import annotations


class Rule:
    """One step of a modified backward pass through one layer.

    Subclasses implement :meth:`backward`; the pass (:func:`~refpattern.methods.backprop.modified_backward`)
    calls it for every layer, from the explained logit down to the input.
    """

    def backward(self, layer, x, output, upstream, backend=None):
        """The signal at the layer's input.

        Parameters
        ----------
        layer : a layer of :mod:`refpattern.network`
        x : ndarray (N, …)
            The layer's input in the forward pass.
        output : ndarray
            The layer's output in the forward pass (``layer.forward(x)``; bias included).
        upstream : ndarray, shaped like ``output``
            The signal arriving at the layer's output.
        backend : str or None
            Where the layer's kernels run (:func:`refpattern.kernels.get_backend`).

        Returns
        -------
        ndarray shaped like ``x``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement backward(layer, x, output, upstream, "
                                  "backend)")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")
                           and not hasattr(v, "shape"))
        return f"{type(self).__name__}({fields})"
