"""The README.md written into a golden suite (``refpattern golden``,
:mod:`refpattern.experiments.golden`): :data:`README_TEMPLATE` and :func:`readme`, which fills it in
from the suite's manifest (what each network tests, how to load the suite from torch and Keras, the
certificate).
"""

from __future__ import annotations

README_TEMPLATE = """\
# refpattern golden suite

Written by `refpattern golden` (refpattern {version}, backend `{backend}`, seed {seed}){certified}.
What every number means: refpattern's `docs/conventions.md` (explained logit `y_t`, start values,
stabilisers `z + s·sgn(z)` with `sgn(0) = +1`, max-pool ties to the first maximum, ReLU gates,
layouts); `manifest.json` lists every file, network, case and option.

| network | what it tests |
|---|---|
{table}

Files per network `<name>`: `<name>.npz` (inputs `x.NCHW`/`x.NHWC`, `targets`, `y_t`, `logits`, the network
in both layouts under `manifest.json`'s `network`, and `explanation.<case>.NCHW`/`.NHWC` per case),
`<name>.network.npz` (the network for `refpattern.Sequential.load`), `<name>.patterns.npz` (its S_a±
patterns for `refpattern.Patterns.load`, also inside `<name>.npz` in both layouts) and `<name>.fit_x.npy`
(the data they were fitted on). A case `<method>@<option>=<value>` is the method with a second option value.

The arrays of `<name>.npz` (`N` samples, `K` SmoothGrad draws or IG nodes; `.NHWC` is the `.NCHW` array
with the channels moved last, and flat inputs have no `.NHWC`):

| entry | shape | meaning |
|---|---|---|
| `x.NCHW`, `x.NHWC` | `(N,) + sample shape` | the explained inputs |
| `targets` | `(N,)` | the explained class of each sample (int64) |
| `y_t` | `(N,)` | the explained pre-softmax logit, `logits[n, targets[n]]` |
| `logits` | `(N, classes)` | every pre-softmax logit (a final Softmax is not applied) |
| `network.torch.<i>.weight`/`.bias` | the layer's | layer `i` in PyTorch's layout (manifest: `network`) |
| `network.keras.<i>.kernel`/`.bias` | the layer's | layer `i` in Keras' layout |
| `explanation.<case>.NCHW`/`.NHWC` | like `x` | each case's output |
| `options.<case>.patterns.<k>.<a_plus or a_minus>.<torch or keras>` | kernel layer `k`'s weight | S_a± |
| `options.smoothgrad.noise` | `(K, N) + x's sample shape` | SmoothGrad's perturbations, as passed (`noise=`) |
| `resolved.smoothgrad.noise.NCHW`/`.NHWC` | `(K, N) + x's sample shape` | the same, per layout |
| `resolved.integrated_gradients.alphas`, `.weights` | `(K,)` | IG's nodes `α_k` and weights `ω_k` |

SmoothGrad explains sample `n` as `(1/K)·Σ_k ∇y_t(x[n] + noise[k, n])`; Integrated Gradients (baseline 0) as
`x[n] ⊙ Σ_k ω_k·∇y_t(α_k·x[n])` with the 4-point Gauss–Legendre nodes and weights on `[0, 1]` as float64 holds
them (use these arrays, not your own nodes). Every other option (ε, stabilisers, z^B's `low`/`high`,
`output_pattern`) is a number or a string in the file manifest's `methods[<case>]["options"]`, with
every default filled in.

## Reading the suite (NumPy and json only)

```python
import json, numpy as np
suite = json.load(open("manifest.json"))          # run from this folder

def load(name):                                   # one network's reference file
    with np.load(suite["networks"][name]["reference"], allow_pickle=False) as f:
        ref = {{key: f[key] for key in f.files}}
    return ref, json.loads(str(ref["manifest.json"]))   # arrays; the file's own manifest

ref, meta = load("dense_relu")
expected = ref[meta["methods"]["lrp.epsilon"]["explanation"]["NCHW"]]   # options: meta["methods"][...]["options"]
```

## From a torch test

```python
import torch

def torch_model(ref, meta):                       # the network up to its logits, float64
    layers = []
    for L in meta["network"]["torch"]:            # padding is ((top, bottom), (left, right))
        if L["type"] == "Conv2D":
            (t, b), (l, r) = L["padding"]; w = ref[L["weight"]["array"]]
            layers += [torch.nn.ZeroPad2d((l, r, t, b)), torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:],
                                                                          stride=tuple(L["stride"]))]
        elif L["type"] == "Dense":
            layers.append(torch.nn.Linear(*ref[L["weight"]["array"]].shape[::-1]))
        elif L["type"] == "MaxPool2D":
            layers.append(torch.nn.MaxPool2d(tuple(L["kernel_size"]), tuple(L["stride"])))
        elif L["type"] in ("ReLU", "Flatten"):
            layers.append(getattr(torch.nn, L["type"])())
        if "weight" in L:
            layers[-1].weight.data = torch.tensor(ref[L["weight"]["array"]])
            layers[-1].bias.data = torch.tensor(ref[L["bias"]["array"]])
    return torch.nn.Sequential(*layers).double()

for name in suite["networks"]:
    ref, meta = load(name)
    x = torch.tensor(ref["x.NCHW"], requires_grad=True)
    logits = torch_model(ref, meta)(x)
    np.testing.assert_allclose(logits.detach().numpy(), ref["logits"], rtol=1e-12, atol=1e-14)
    logits[range(len(x)), torch.tensor(ref["targets"])].sum().backward()    # gradient of y_t
    np.testing.assert_allclose(x.grad.numpy(), ref[meta["methods"]["gradient"]["explanation"]["NCHW"]],
                               rtol=1e-10, atol=1e-14)
```

## From a Keras test (channels last)

```python
import keras
keras.config.set_floatx("float64")
keras.config.set_dtype_policy("float64")   # in a test suite Keras may have fixed float32 layers already

def keras_model(ref, meta):                       # kernels (kh, kw, in, out) and (in, out); Flatten order (H, W, C)
    model = keras.Sequential([keras.Input(tuple(meta["network"]["keras"][0]["input_shape"]))])
    for L in meta["network"]["keras"]:
        if L["type"] == "Conv2D":
            k = ref[L["kernel"]["array"]]
            model.add(keras.layers.ZeroPadding2D(tuple(map(tuple, L["padding"]))))
            model.add(keras.layers.Conv2D(k.shape[3], k.shape[:2], strides=tuple(L["strides"])))
        elif L["type"] == "Dense":
            model.add(keras.layers.Dense(ref[L["kernel"]["array"]].shape[1]))
        elif L["type"] == "MaxPool2D":
            model.add(keras.layers.MaxPooling2D(tuple(L["pool_size"]), tuple(L["strides"])))
        elif L["type"] in ("ReLU", "Flatten"):
            model.add(getattr(keras.layers, L["type"])())
        if "kernel" in L:
            model.layers[-1].set_weights([ref[L["kernel"]["array"]], ref[L["bias"]["array"]]])
    return model

for name in suite["networks"]:
    ref, meta = load(name)
    x = ref["x.NHWC"] if "x.NHWC" in ref else ref["x.NCHW"]   # images NHWC; flat inputs have no layout
    np.testing.assert_allclose(keras_model(ref, meta)(x), ref["logits"], rtol=1e-12, atol=1e-14)
    entries = meta["methods"]["gradient"]["explanation"]
    expected = ref[entries.get("NHWC", entries["NCHW"])]     # the gradient, channels last
```

Gradient-type methods start from 1 at `y_t`, LRP, deep Taylor, PatternNet and PatternAttribution from
the value `y_t`; max-pooling routes to the first maximum of a window (`maxpool_ties` fails a library that
breaks ties otherwise). Compare maps as `refpattern.testing` does: per sample,
`|actual − expected| ≤ rtol·max|expected_n|` (rtol 1e-10 for a float64 library, 1e-4 for float32).
iNNvestigate 1.x takes the patterns as a list of Keras kernels,
`[layer["a_plus"]["keras"] for layer in meta["methods"]["pattern.attribution"]["options"]["patterns"]["layers"]]`
(as arrays: `ref[...["array"]]`), and uses one pattern per layer: compare it with the case
`pattern.attribution@output_pattern=a+`. These snippets were written for torch ≥ 2 and Keras 3 and not
run by refpattern (neither is one of its dependencies).
{certificate}"""


def readme(manifest: dict) -> str:
    """The suite's README.md: what each network tests and how to load the suite from torch and Keras."""
    table = "\n".join(f"| `{name}` | {entry['description']} |" for name, entry in manifest["networks"].items())
    certified, certificate = "", ""
    if manifest["certified"]:
        bounds = manifest["certificate"]["bounds_ulps"]
        certified = f", certified against {manifest['certificate']['digits']}-digit arithmetic"
        rows = []
        for name, entry in manifest["networks"].items():
            methods = entry["certificate"]["methods"]
            worst = max(methods.items(), key=lambda item: item[1]["max_ulps"])
            patterns = max(value["max_ulps"] for value in entry["certificate"]["patterns"].values())
            rows.append(f"| `{name}` | {entry['certificate']['logits']['max_ulps']:.2f} | "
                        f"{worst[1]['max_ulps']:.2f} (`{worst[0]}`) | {patterns:.2f} | "
                        f"{'yes' if entry['certificate']['within_bounds'] else '**no**'} |")
        certificate = ("\n## Certificate\n\nEvery logit, `y_t`, explanation and pattern was computed again in "
                       f"{manifest['certificate']['digits']}-digit arithmetic by a loop-based twin independent of "
                       "refpattern's code (mpmath). Largest error of refpattern's float64 numbers, in ulps of the "
                       "largest exact entry of each output (per network; every value is in `manifest.json`):\n\n"
                       "| network | logits | explanations | S_a± patterns | within bounds |\n|---|---|---|---|---|\n"
                       + "\n".join(rows) + "\n\nBounds (ulps): "
                       + ", ".join(f"{kind} {bound:g}" for kind, bound in bounds.items()) + ".\n")
    return README_TEMPLATE.format(version=manifest["refpattern_version"], backend=manifest["backend"],
                                  seed=manifest["seed"], certified=certified, table=table, certificate=certificate)
