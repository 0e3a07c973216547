"""The exact twin that certifies the golden suite (``docs/conventions.md#golden-certificate``).

A second, independent computation of every number ``refpattern golden`` writes, in 50-digit
arithmetic (``mpmath``, an optional extra: ``pip install "refpattern[golden]"``).  It reads only a
network's parameters (weights, biases, strides, paddings, pool sizes) and never calls refpattern's
layers, kernels or rules: every step is a plain loop written from the equations in
``docs/math.md#rules`` and ``docs/conventions.md``:

- a kernel layer (Dense or Conv2D) is a list of connections: output neuron ``j`` reads input ``i``
  through weight entry ``k`` (``z_j = Σ_(i,k) x_i·W_k + b_j``); for a convolution ``j`` is
  ``(o, p, q)`` and ``i`` the input pixel ``(c, p·sh + u − top, q·sw + v − left)`` for every kernel
  position ``(c, u, v)`` that does not fall on the zero padding (``"same"`` resolved by its
  formula, ``docs/conventions.md#same-padding``), so a rule's sum over ``i`` runs over the inputs
  that exist;
- a max-pooling window routes to its first maximum in row-major window order
  (``docs/conventions.md#maxpool-ties``), overlapping windows add up;
- stabilised denominators are ``z + s·sgn(z)`` with ``sgn(0) = +1``; ``s = 0`` divides exactly and
  a zero denominator passes nothing (``docs/conventions.md#stabilisers``);
- the rules: gradient, LRP-ε (LRP-z at ε = 0), LRP-αβ (z⁺ without bias), z^B, w², the gated
  pattern step of PatternNet/PatternAttribution; ReLU gated, DeConvNet's ``max(R, 0)``, Guided
  Backprop's ``max(R, 0)·1[x > 0]``, or passed (LRP, deep Taylor); input × gradient, Integrated
  Gradients with given nodes and weights (the exact path points ``x₀ + α(x − x₀)``), SmoothGrad
  with given perturbations;
- S_a± (``variant="paper"``): ``a_r = (E_r[xy] − E_r[x]·E[y]) / (wᵀE_r[xy] − wᵀE_r[x]·E[y])`` with
  the unconditional ``E[y]``, over every (sample, position) observation of a kernel layer,
  ``y = wᵀx`` without bias, ``r = +`` where ``wᵀx + b > 0`` (``docs/math.md#estimators``); a regime
  without observations or with a zero denominator gets a zero pattern.

Numbers enter exactly (a float64 is a binary fraction; ``mpf(float)`` keeps it) and every operation
rounds to ``digits`` decimal digits, so the twin's results are exact to far below a float64 unit
in the last place.  :func:`ulps` measures a float64 array against them.

:class:`ExactTwin` keeps each rule in its own method so that a test can break one on purpose
(``tests/test_golden.py``) and see the certificate fail.
"""

from __future__ import annotations

import math
import numbers

from refpattern.interop import import_framework
from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.maxpool import MaxPool2D

DEFAULT_DIGITS = 50
#: The fewest decimal digits the twin accepts: far above float64's 17, so its rounding stays far below an ulp.
MINIMUM_DIGITS = 30
#: The pip extra that installs mpmath.
EXTRA = "golden"


def import_mpmath():
    """The ``mpmath`` module, or an ``ImportError`` naming ``pip install "refpattern[golden]"``."""
    return import_framework("mpmath", EXTRA)


def check_digits(digits) -> int:
    """``digits`` as an int ``>= MINIMUM_DIGITS`` (``TypeError``/``ValueError`` naming ``digits`` otherwise):
    with fewer the twin's own rounding reaches float64's and the certificate measures the twin."""
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral):
        raise TypeError(f"digits: expected an int >= {MINIMUM_DIGITS}, got {digits!r} ({type(digits).__name__})")
    if digits < MINIMUM_DIGITS:
        raise ValueError(f"digits: expected an int >= {MINIMUM_DIGITS} (float64 carries 17 digits), got {digits}")
    return int(digits)


def _same_pads(size: int, kernel: int, stride: int) -> tuple:
    """``"same"``: ``ceil(size/stride)`` outputs, the odd zero after (``docs/conventions.md#same-padding``)."""
    outputs = -(-size // stride)
    total = max((outputs - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ExactTwin:
    """The exact computation of one network (module docstring).

    Parameters
    ----------
    net : Sequential
        Read for its parameters only; ``net.input_shape`` (or ``input_shape``) must be known.
    digits : int
        Decimal digits of every operation (default 50).
    """

    def __init__(self, net, digits: int = DEFAULT_DIGITS, input_shape=None):
        self.mpmath = import_mpmath()
        self.context = self.mpmath.MPContext()  # its own precision: the caller's mpmath.mp is left alone
        self.digits = check_digits(digits)
        self.context.dps = self.digits
        self.mpf = self.context.mpf
        shape = tuple(input_shape or net.input_shape)
        self.input_shape = shape
        self.layers = []
        for layer in net.layers:
            if isinstance(layer, Softmax):
                break  # explanations are of the pre-softmax logits
            record, shape = self._describe(layer, shape)
            self.layers.append(record)
        self.kernel_positions = [index for index, record in enumerate(self.layers) if record["kind"] == "kernel"]

    # --- the network, as connections -----------------------------------------------------------
    def _numbers(self, array):
        return [self.mpf(float(value)) for value in array.ravel()]

    def _describe(self, layer, shape):
        if isinstance(layer, Dense):
            n_out, n_in = layer.weight.shape
            connections = [[(i, j * n_in + i) for i in range(n_in)] for j in range(n_out)]
            return {"kind": "kernel", "weight": self._numbers(layer.weight), "bias": self._numbers(layer.bias),
                    "connections": connections, "channel": list(range(n_out)), "fan": n_in,
                    "n_in": n_in}, (n_out,)
        if isinstance(layer, Conv2D):
            n_out, channels, kh, kw = layer.weight.shape
            _, height, width = shape
            sh, sw = layer.stride
            if layer.padding == "same":
                (top, bottom), (left, right) = _same_pads(height, kh, sh), _same_pads(width, kw, sw)
            else:
                (top, bottom), (left, right) = layer.padding
            out_h = (height + top + bottom - kh) // sh + 1
            out_w = (width + left + right - kw) // sw + 1
            connections, channel = [], []
            for o in range(n_out):
                for p in range(out_h):
                    for q in range(out_w):
                        found = []
                        for c in range(channels):
                            for u in range(kh):
                                for v in range(kw):
                                    row, column = p * sh + u - top, q * sw + v - left
                                    if 0 <= row < height and 0 <= column < width:
                                        found.append(((c * height + row) * width + column,
                                                      ((o * channels + c) * kh + u) * kw + v))
                        connections.append(found)
                        channel.append(o)
            return {"kind": "kernel", "weight": self._numbers(layer.weight), "bias": self._numbers(layer.bias),
                    "connections": connections, "channel": channel, "fan": channels * kh * kw,
                    "n_in": channels * height * width}, (n_out, out_h, out_w)
        if isinstance(layer, MaxPool2D):
            channels, height, width = shape
            (kh, kw), (sh, sw) = layer.size, layer.stride
            out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
            windows = [[(c * height + p * sh + u) * width + q * sw + v for u in range(kh) for v in range(kw)]
                       for c in range(channels) for p in range(out_h) for q in range(out_w)]
            return {"kind": "MaxPool2D", "windows": windows, "n_in": channels * height * width}, \
                (channels, out_h, out_w)
        if isinstance(layer, ReLU):
            return {"kind": "ReLU"}, shape
        if isinstance(layer, Flatten):
            return {"kind": "Flatten"}, (int(_product(shape)),)
        raise TypeError(f"ExactTwin: no exact twin for {type(layer).__name__}")

    # --- forward ----------------------------------------------------------------------------------
    def exact(self, values) -> list:
        """A float64 array (one sample) as a flat list of exact numbers (C order)."""
        return self._numbers(values)

    def forward(self, x) -> list:
        """``[x, a_1, …, logits]`` of one sample (flat lists of exact numbers)."""
        activations = [list(x)]
        for index, record in enumerate(self.layers):
            a = activations[-1]
            if record["kind"] == "kernel":
                weight, bias = record["weight"], record["bias"]
                out = []
                for j, connections in enumerate(record["connections"]):
                    total = bias[record["channel"][j]]
                    for i, k in connections:
                        total += a[i] * weight[k]
                    out.append(total)
            elif record["kind"] == "MaxPool2D":
                out = [a[winner] for winner in self._winners_of(activations, index)]
            elif record["kind"] == "ReLU":
                out = [value if value > 0 else self.mpf(0) for value in a]
            else:
                out = list(a)
            activations.append(out)
        return activations

    def maxpool_winner(self, values) -> int:
        """The first maximum in row-major window order."""
        best = 0
        for position, value in enumerate(values):
            if value > values[best]:
                best = position
        return best

    # --- the pieces of every rule -----------------------------------------------------------------
    def stabilize(self, denominator, stabilizer):
        """``z + s·sgn(z)`` with ``sgn(0) = +1``; None for an exact (``s = 0``) zero: nothing passes."""
        if stabilizer == 0:
            return None if denominator == 0 else denominator
        return denominator + (stabilizer if denominator >= 0 else -stabilizer)

    def _kernel(self, record, x, z, upstream, contribution, denominator=None):
        """``R_i = Σ_j c_ij·R_j / den_j`` with ``c_ij = contribution(i, k, j)`` and ``den_j =
        denominator(j)`` (None: no division; a None denominator passes nothing)."""
        out = [self.mpf(0)] * record["n_in"]
        for j, connections in enumerate(record["connections"]):
            if upstream[j] == 0:
                continue
            share = upstream[j]
            if denominator is not None:
                den = denominator(j, connections)
                if den is None:
                    continue
                share = share / den
            for i, k in connections:
                out[i] += contribution(i, k, j) * share
        return out

    def rule_gradient(self, record, x, z, upstream):
        weight = record["weight"]
        return self._kernel(record, x, z, upstream, lambda i, k, j: weight[k])

    def rule_epsilon(self, epsilon):
        def rule(record, x, z, upstream):
            weight = record["weight"]
            return self._kernel(record, x, z, upstream, lambda i, k, j: x[i] * weight[k],
                                lambda j, connections: self.stabilize(z[j], epsilon))
        return rule

    def rule_alpha_beta(self, alpha, beta, bias, stabilizer):
        alpha, beta = self.mpf(alpha), self.mpf(beta)

        def rule(record, x, z, upstream):
            weight, biases, zero = record["weight"], record["bias"], self.mpf(0)
            out = [zero] * record["n_in"]
            for j, connections in enumerate(record["connections"]):
                if upstream[j] == 0:
                    continue
                products = [(i, x[i] * weight[k]) for i, k in connections]
                b = biases[record["channel"][j]]
                positive = sum((max(v, zero) for _, v in products), zero) + (max(b, zero) if bias else zero)
                negative = sum((min(v, zero) for _, v in products), zero) + (min(b, zero) if bias else zero)
                den_positive = self.stabilize(positive, stabilizer)
                den_negative = self.stabilize(negative, stabilizer)
                for i, v in products:
                    if den_positive is not None:
                        out[i] += alpha * max(v, zero) * upstream[j] / den_positive
                    if den_negative is not None and beta != 0:
                        out[i] -= beta * min(v, zero) * upstream[j] / den_negative
            return out
        return rule

    def rule_zb(self, low, high, stabilizer):
        def rule(record, x, z, upstream):
            weight, zero = record["weight"], self.mpf(0)
            lows, highs = self._bound(low, len(x)), self._bound(high, len(x))

            def term(i, k, j):
                w = weight[k]
                return x[i] * w - lows[i] * max(w, zero) - highs[i] * min(w, zero)

            return self._kernel(record, x, z, upstream, term, lambda j, connections: self.stabilize(
                sum((term(i, k, j) for i, k in connections), zero), stabilizer))
        return rule

    def _bound(self, bound, size):
        values = bound if isinstance(bound, list) else [bound] * size
        return [self.mpf(float(v)) for v in values]

    def rule_w_square(self, stabilizer):
        def rule(record, x, z, upstream):
            weight, zero = record["weight"], self.mpf(0)
            return self._kernel(record, x, z, upstream, lambda i, k, j: weight[k] ** 2, lambda j, connections:
                                self.stabilize(sum((weight[k] ** 2 for _, k in connections), zero), stabilizer))
        return rule

    def rule_pattern(self, open_weight, closed_weight):
        """PatternNet/PatternAttribution: ``V₊`` where ``z_j > 0``, ``V₋`` where not (flat lists in the
        weight's order)."""
        def rule(record, x, z, upstream):
            return self._kernel(record, x, z, upstream,
                                lambda i, k, j: open_weight[k] if z[j] > 0 else closed_weight[k])
        return rule

    def relu_gate(self, x, upstream):
        return [r if v > 0 else self.mpf(0) for v, r in zip(x, upstream)]

    def relu_deconv(self, x, upstream):
        return [r if r > 0 else self.mpf(0) for r in upstream]

    def relu_guided(self, x, upstream):
        return [r if (r > 0 and v > 0) else self.mpf(0) for v, r in zip(x, upstream)]

    def relu_pass(self, x, upstream):
        return list(upstream)

    # --- one backward pass ---------------------------------------------------------------------------
    def backward(self, activations, target: int, kernel_rules, relu_rule, start: str) -> list:
        """From ``y_t`` (``start="logit"``) or 1 (``"one"``) at class ``target`` down to the input;
        ``kernel_rules[m]`` is the rule of the m-th kernel layer."""
        logits = activations[-1]
        signal = [self.mpf(0)] * len(logits)
        signal[target] = logits[target] if start == "logit" else self.mpf(1)
        for index in range(len(self.layers) - 1, -1, -1):
            record, x, z = self.layers[index], activations[index], activations[index + 1]
            if record["kind"] == "kernel":
                signal = kernel_rules[self.kernel_positions.index(index)](record, x, z, signal)
            elif record["kind"] == "ReLU":
                signal = relu_rule(x, signal)
            elif record["kind"] == "MaxPool2D":
                out = [self.mpf(0)] * record["n_in"]
                for position, winner in enumerate(self._winners_of(activations, index)):
                    out[winner] += signal[position]
                signal = out
        return signal

    def _winners_of(self, activations, index):
        record, a = self.layers[index], activations[index]
        return [window[self.maxpool_winner([a[i] for i in window])] for window in record["windows"]]

    def gradient(self, x, target: int) -> list:
        """``∇_x y_t`` at the exact point ``x`` (a flat list of exact numbers)."""
        kernel = [self.rule_gradient] * len(self.kernel_positions)
        return self.backward(self.forward(x), target, kernel, self.relu_gate, "one")

    # --- the methods of the golden suite -------------------------------------------------------------
    def composite(self, method: str, options: dict, patterns=None):
        """``(kernel_rules, relu_rule, start)`` of a single-pass method with its options (every value
        explicit); ``patterns``: per kernel layer ``(a_plus, a_minus)`` as float64 arrays."""
        n = len(self.kernel_positions)
        s = options.get("stabilizer", 0.0)
        if method in ("gradient", "deconvnet", "guided_backprop"):
            relu = {"gradient": self.relu_gate, "deconvnet": self.relu_deconv,
                    "guided_backprop": self.relu_guided}[method]
            return [self.rule_gradient] * n, relu, "one"
        if method == "lrp.z":
            return [self.rule_epsilon(0.0)] * n, self.relu_pass, "logit"
        if method == "lrp.epsilon":
            return [self.rule_epsilon(options["epsilon"])] * n, self.relu_pass, "logit"
        if method in ("lrp.alpha_beta", "lrp.alpha_1_beta_0", "lrp.alpha_2_beta_1", "lrp.z_plus"):
            alpha, beta, bias = {"lrp.alpha_1_beta_0": (1.0, 0.0, True), "lrp.alpha_2_beta_1": (2.0, 1.0, True),
                                 "lrp.z_plus": (1.0, 0.0, False)}.get(
                method, (options.get("alpha"), options.get("beta"), options.get("bias")))
            return [self.rule_alpha_beta(alpha, beta, bias, s)] * n, self.relu_pass, "logit"
        if method == "lrp.w_square":
            return [self.rule_w_square(s)] * n, self.relu_pass, "logit"
        if method == "lrp.zb":
            if options.get("rest", "lrp.epsilon") != "lrp.epsilon":
                raise ValueError("ExactTwin: lrp.zb is twinned with rest='lrp.epsilon' only")
            rest = self.rule_epsilon(options["epsilon"])
            return [self.rule_zb(options["low"], options["high"], s)] + [rest] * (n - 1), self.relu_pass, "logit"
        if method == "deep_taylor":
            first = self.rule_w_square(s) if options.get("low") is None else \
                self.rule_zb(options["low"], options["high"], s)
            return [first] + [self.rule_alpha_beta(1.0, 0.0, False, s)] * (n - 1), self.relu_pass, "logit"
        if method in ("pattern.net", "pattern.attribution"):
            rules = []
            for m, index in enumerate(self.kernel_positions):
                a_plus, a_minus = (self._numbers(array) for array in patterns[m])
                if options.get("output_pattern", "a+-") == "a+" and m == n - 1:
                    a_minus = a_plus
                if method == "pattern.attribution":
                    weight = self.layers[index]["weight"]
                    a_plus = [w * a for w, a in zip(weight, a_plus)]
                    a_minus = [w * a for w, a in zip(weight, a_minus)]
                rules.append(self.rule_pattern(a_plus, a_minus))
            return rules, self.relu_gate, "logit"
        raise ValueError(f"ExactTwin: no exact twin for method {method!r}")

    def explain(self, method: str, x, target: int, options: dict, patterns=None) -> list:
        """The exact explanation of one sample ``x`` (a float64 array) as a flat list.

        ``options`` hold every value explicitly: ``epsilon``, ``stabilizer``, ``low``/``high``;
        Integrated Gradients ``alphas``, ``weights`` (the nodes and weights used) and ``baseline``
        (a scalar or one sample's array); SmoothGrad ``noise`` (its perturbations of this sample,
        ``(K,) + x.shape``)."""
        exact_x = self.exact(x)
        if method == "input_x_gradient":
            return [a * g for a, g in zip(exact_x, self.gradient(exact_x, target))]
        if method == "integrated_gradients":
            base = options.get("baseline", 0.0)  # a scalar or one sample's array
            base = self._bound(base.ravel().tolist() if getattr(base, "ndim", 0) else float(base), len(exact_x))
            delta = [a - b for a, b in zip(exact_x, base)]
            total = [self.mpf(0)] * len(exact_x)
            for alpha, weight in zip(options["alphas"], options["weights"]):
                alpha, weight = self.mpf(float(alpha)), self.mpf(float(weight))
                point = [b + alpha * d for b, d in zip(base, delta)]
                total = [t + weight * g for t, g in zip(total, self.gradient(point, target))]
            return [d * t for d, t in zip(delta, total)]
        if method == "smoothgrad":
            noise = options["noise"]
            total = [self.mpf(0)] * len(exact_x)
            for eta in noise:
                point = [a + e for a, e in zip(exact_x, self.exact(eta))]
                total = [t + g for t, g in zip(total, self.gradient(point, target))]
            return [t / len(noise) for t in total]
        kernel_rules, relu_rule, start = self.composite(method, options, patterns)
        return self.backward(self.forward(exact_x), target, kernel_rules, relu_rule, start)

    # --- S_a± ----------------------------------------------------------------------------------------------
    def fit_two_component(self, samples) -> list:
        """The paper-variant S_a± patterns of every kernel layer, fitted on ``samples`` (float64
        arrays, one per sample): per kernel layer ``(a_plus, a_minus)``, each a list of ``O`` rows of
        ``D`` exact numbers (the weight's ``(out, in)`` or ``(out, in·kh·kw)`` order)."""
        zero = self.mpf(0)
        sums = {index: None for index in self.kernel_positions}
        for sample in samples:
            activations = self.forward(self.exact(sample))
            for index in self.kernel_positions:
                record, x, z = self.layers[index], activations[index], activations[index + 1]
                n_out, fan = len(record["bias"]), record["fan"]
                if sums[index] is None:
                    sums[index] = {"n": [0] * n_out, "sum_y": [zero] * n_out,
                                   **{f"{name}_{regime}": ([0] * n_out if name == "n" else
                                                           [[zero] * fan for _ in range(n_out)])
                                      for name in ("n", "x", "xy") for regime in ("plus", "minus")}}
                stats, bias = sums[index], record["bias"]
                for j, connections in enumerate(record["connections"]):
                    o = record["channel"][j]
                    y = z[j] - bias[o]  # wᵀx without bias (z is exact, so is the difference)
                    regime = "plus" if z[j] > 0 else "minus"
                    stats["n"][o] += 1
                    stats[f"n_{regime}"][o] += 1
                    stats["sum_y"][o] += y
                    row_x, row_xy = stats[f"x_{regime}"][o], stats[f"xy_{regime}"][o]
                    for i, k in connections:
                        d = k - o * fan
                        row_x[d] += x[i]
                        row_xy[d] += x[i] * y
        fitted = []
        for index in self.kernel_positions:
            record, stats = self.layers[index], sums[index]
            n_out, fan, weight = len(record["bias"]), record["fan"], record["weight"]
            regimes = []
            for regime in ("plus", "minus"):
                rows = []
                for o in range(n_out):
                    count = stats[f"n_{regime}"][o]
                    if count == 0:
                        rows.append([zero] * fan)
                        continue
                    mean_y = stats["sum_y"][o] / stats["n"][o]
                    numerator = [(xy - xs * mean_y) / count
                                 for xs, xy in zip(stats[f"x_{regime}"][o], stats[f"xy_{regime}"][o])]
                    denominator = sum((weight[o * fan + d] * numerator[d] for d in range(fan)), zero)
                    rows.append([zero] * fan if denominator == 0 else [v / denominator for v in numerator])
                regimes.append(rows)
            fitted.append(tuple(regimes))
        return fitted


def _product(values) -> int:
    total = 1
    for value in values:
        total *= int(value)
    return total


def ulps(twin: ExactTwin, actual, exact) -> float | None:
    """``max|actual − exact| / ulp(max|exact|)``: the error of a float64 array ``actual`` against the
    exact values (a flat list in C order), in units in the last place of float64 at the largest exact
    magnitude (``ulp(m) = 2^(e − 53)`` for ``m ∈ [2^(e−1), 2^e)``).  0 when both are all zero; None
    when only the exact values are (no scale to measure in); ``inf`` when an actual value is NaN or
    inf (the exact values are finite: a NaN compares false and would drop out of the maximum)."""
    mp = twin.context
    values = [float(v) for v in actual.ravel()]
    if len(values) != len(exact):
        raise ValueError(f"ulps: {len(values)} values against {len(exact)} exact ones")
    if not all(math.isfinite(v) for v in values):
        return math.inf
    error = max((abs(mp.mpf(v) - e) for v, e in zip(values, exact)), default=mp.mpf(0))
    scale = max((abs(e) for e in exact), default=mp.mpf(0))
    if scale == 0:
        return 0.0 if error == 0 else None
    _, exponent = mp.frexp(scale)
    return float(error / mp.ldexp(mp.mpf(1), int(exponent) - 53))


__all__ = ["DEFAULT_DIGITS", "EXTRA", "MINIMUM_DIGITS", "ExactTwin", "check_digits", "import_mpmath", "ulps"]
