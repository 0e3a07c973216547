"""Adversarial cases of the patterns area (fit_statistics, fit_patterns, rho, Patterns, refpattern.testing):
degenerate data, odd option values and crafted files that once gave a wrong number or a crash inside."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.files import archive_checksum
from refpattern.patterns import Estimator, LayerStatistics, NetworkStatistics, Patterns, rho


def two_layer_net(seed=0, d=4, hidden=3, out=1):
    rng = np.random.default_rng(seed)
    return rp.Sequential([rp.Dense(rng.normal(size=(hidden, d)), rng.normal(0, 0.1, hidden)), rp.ReLU(),
                          rp.Dense(rng.normal(size=(out, hidden)), rng.normal(0, 0.1, out))], input_shape=(d,))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("estimator", ["w", "random"])
@pytest.mark.parametrize("v_split", ["constant", "single sample"])
def test_held_out_rho_with_no_variance_on_the_v_split_regresses_on_nothing(backend, estimator, v_split):
    """On a split where every y is constant there is no direction to regress y on: v = 0, so the
    held-out correlation is 0 and ρ = 1 for every neuron, on every backend (before, v was fitted to
    the rounding noise of Σ_v and c_v, giving ρ = 1.105 with numba and 1 with numpy)."""
    if backend == "numba":
        pytest.importorskip("numba")
    net = two_layer_net(seed=0)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    x_v = np.tile(x[:1], (20, 1)) if v_split == "constant" else x[:1].copy()
    patterns = rp.fit_patterns(net, rng.normal(size=(50, 4)), estimator)
    result = rho(net, x, patterns, fit_v_on=x_v, backend=backend)
    for values in result.per_neuron:
        np.testing.assert_array_equal(values, 1.0)


# --- statistics: what the public objects accept -------------------------------------------------

def test_statistics_api_refuses_what_is_not_a_network_or_statistics():
    net = two_layer_net()
    x = np.random.default_rng(2).normal(size=(30, 4))
    stats = rp.fit_statistics(net, x)
    for call, name in ((lambda: rp.patterns_from_statistics(None, stats), "net"),
                       (lambda: rp.patterns_from_statistics(None, None, "w"), "net"),
                       (lambda: rp.patterns_from_statistics(net, list(stats)), "stats"),
                       (lambda: rp.patterns_from_statistics(net, stats[0]), "stats"),
                       (lambda: NetworkStatistics.empty(None), "net"),
                       (lambda: stats.check_network("net"), "net"),
                       (lambda: NetworkStatistics([1, 2]), "entry 0")):
        with pytest.raises(TypeError, match=name):
            call()


def test_layer_statistics_accumulate_refuses_a_missing_or_non_finite_output():
    """z's sign is the gate of every observation: None crashed inside the kernel (numpy: 'NoneType'
    object is not subscriptable; numba: a reshape error), NaN silently closed every gate."""
    net = two_layer_net()
    layer = net.kernel_layers[0]
    x = np.random.default_rng(2).normal(size=(5, 4))
    stats = LayerStatistics(layer, 0, 0)
    with pytest.raises(TypeError, match=r"Dense\(in=4, out=3\): z must be .*got None"):
        stats.accumulate(x, None, backend="numpy")
    with pytest.raises(ValueError, match=r"Dense\(in=4, out=3\): z holds NaN or inf"):
        stats.accumulate(x, np.full((5, 3), np.nan), backend="numpy")
    with pytest.raises(TypeError, match=r"z must be a floating-point array, got dtype int64"):
        stats.accumulate(x, np.ones((5, 3), dtype=np.int64), backend="numpy")
    assert stats.n == 0  # nothing was added
    stats.accumulate(x, layer.forward(x), backend="numpy")
    assert stats.n == 5


def test_recentering_and_rescaling_refuse_values_that_would_corrupt_the_sums():
    """A NaN shift made every sum NaN; a scale that is not a power of two was recorded although the
    sums were multiplied by a power of two (rescaled(3.0) kept σ = 3 with sums scaled by 1/4)."""
    net = two_layer_net()
    stats = rp.fit_statistics(net, np.random.default_rng(2).normal(size=(30, 4)))[0]
    with pytest.raises(ValueError, match=r"Dense\(in=4, out=3\): shift holds NaN or inf"):
        stats.recentered(np.full(4, np.nan))
    for scale in (3.0, 0.0, -2.0, np.inf, True):
        with pytest.raises(ValueError, match=r"Dense\(in=4, out=3\): scale must be a positive power of two"):
            stats.rescaled(scale)
    rescaled = stats.rescaled(4.0)  # a power of two: the sums are in units of σ = 4, σ^k for order k
    np.testing.assert_array_equal(rescaled.sum_x * 4.0, stats.sum_x)
    np.testing.assert_array_equal(rescaled.sum_xy * 16.0, stats.sum_xy)


# --- Patterns: report, check_network, the file ---------------------------------------------------

def test_patterns_report_and_check_network_name_a_bad_argument():
    """report(-1) silently dropped the last entry, report(1.5) raised NumPy's slice wording;
    check_network(None) ended in an AttributeError."""
    net = two_layer_net()
    patterns = rp.fit_patterns(net, np.random.default_rng(2).normal(size=(3, 4)))  # few samples: entries to report
    entries = len(patterns[0].degenerate)
    assert entries > 1
    for bad, error in ((-1, ValueError), (True, TypeError), (1.5, TypeError), ("3", TypeError)):
        with pytest.raises(error, match="max_per_layer"):
            patterns.report(bad)
    shown = patterns.report(1).splitlines()
    assert f"  ... and {entries - 1} more" in shown
    with pytest.raises(TypeError, match="net must be a refpattern.Sequential, got NoneType"):
        patterns.check_network(None)


def rewritten(path, tmp_path, change):
    """A copy of the patterns file ``path`` with ``change(arrays)`` applied and a matching checksum
    (what a tampering that knows the format writes)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    arrays.pop("checksum")
    arrays["checksum"] = np.array(archive_checksum(arrays))
    target = tmp_path / "crafted.npz"
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize("entry,value,words", [
    ("layer_0.layer_index", -5, "layer_index -5"),
    ("layer_0.n_samples", -5, "n_samples -5"),
    ("seed", 5, "seed entry must be -1, got 5"),
    ("layer_0.degenerate_count", "negative", "observation count is outside"),
])
def test_a_file_whose_values_contradict_each_other_is_refused(tmp_path, entry, value, words):
    """Values that a fit never writes (a negative layer index, sample count or degenerate count, a
    seed for an estimator that draws none), with a consistent checksum, loaded before."""
    net = two_layer_net()
    patterns = rp.fit_patterns(net, np.random.default_rng(2).normal(size=(3, 4)))
    path = tmp_path / "patterns.npz"
    patterns.save(path)

    def change(arrays):
        if value == "negative":
            arrays[entry] = -np.ones_like(arrays[entry])
            if entry == "layer_0.degenerate_count":  # the layer without counts: the n_samples check is not hit
                arrays.pop("layer_0.counts", None)
        else:
            arrays[entry] = np.array(value, dtype=np.int64)
            if entry == "layer_0.n_samples":
                arrays.pop("layer_0.counts")
    assert patterns[0].degenerate
    with pytest.raises(ValueError, match=words):
        Patterns.load(rewritten(path, tmp_path, change))


def saved_patterns(tmp_path, estimator, n=3):
    """A two-layer network and its patterns fitted on ``n`` samples (fewer than FEW_SAMPLES, so every
    neuron has a degenerate note) and saved: ``(net, patterns, path)``."""
    net = two_layer_net()
    x = None if estimator == "w" else np.random.default_rng(2).normal(size=(n, 4))
    patterns = rp.fit_patterns(net, x, estimator)
    path = tmp_path / f"{estimator}.npz"
    patterns.save(path)
    return net, patterns, path


@pytest.mark.parametrize("index, words", [
    (1, r"was fitted at net.layers\[1\] \(entry 'layer_0.layer_index'\), expected net.layers\[0\] \(Dense.*"
        r"net.layers\[1\] is ReLU\(\)"),
    (0, None),  # the index a fit writes: used as before
], ids=["a ReLU's index", "the fitted index"])
def test_a_layer_index_that_points_at_another_layer_is_refused_where_the_patterns_are_used(tmp_path, index, words):
    """A file whose layer_{k}.layer_index points at a non-kernel layer (or past the network) loaded
    and explained silently, as if it belonged to the network: check_network (and with it explain and
    rho) now refuses it, naming the file, the entry and the position the network has the kernel at."""
    net, patterns, path = saved_patterns(tmp_path, "a")
    x = np.random.default_rng(4).normal(size=(2, 4))

    def change(arrays):
        arrays["layer_0.layer_index"] = np.array(index, dtype=np.int64)

    crafted = Patterns.load(rewritten(path, tmp_path, change))
    assert crafted.source == str(tmp_path / "crafted.npz") and patterns.source is None
    if words is None:
        np.testing.assert_array_equal(rp.explain(net, x, "pattern_attribution", patterns=crafted),
                                      rp.explain(net, x, "pattern_attribution", patterns=patterns))
        return
    for call in (lambda: crafted.check_network(net), lambda: rp.explain(net, x, "pattern_net", patterns=crafted),
                 lambda: rho(net, x, crafted)):
        with pytest.raises(ValueError, match=rf"^{tmp_path / 'crafted.npz'}: patterns: kernel layer 0 {words}"):
            call()

    def past_the_end(arrays):
        arrays["layer_1.layer_index"] = np.array(7, dtype=np.int64)

    with pytest.raises(ValueError, match=r"kernel layer 1 was fitted at net.layers\[7\] \(entry 'layer_1.layer_index'\)"
                                         r", expected net.layers\[2\] .*the network has 3 layers"):
        Patterns.load(rewritten(path, tmp_path, past_the_end)).check_network(net)

    def swapped(arrays):
        arrays["layer_0.layer_index"], arrays["layer_1.layer_index"] = np.array(2), np.array(0)

    with pytest.raises(ValueError, match=r"crafted.npz: layer_1.layer_index is 0, expected more than 2 "
                                         r"\(layer_0.layer_index\)"):
        Patterns.load(rewritten(path, tmp_path, swapped))


def test_patterns_of_other_shapes_name_the_file_and_its_entry():
    """check_network's shape and layer-count messages name the file and the entry of loaded patterns."""
    import io
    net = two_layer_net()
    buffer = io.BytesIO()
    rp.fit_patterns(net, np.random.default_rng(2).normal(size=(20, 4)), "a").save(buffer)
    buffer.seek(0)
    loaded = Patterns.load(buffer)
    with pytest.raises(ValueError, match=r"^<file object>: patterns: kernel layer 0 .* weight shape \(3, 5\), the "
                                         r"patterns have shape \(3, 4\) \(entry 'layer_0.shape'\)"):
        loaded.check_network(two_layer_net(d=5))
    with pytest.raises(ValueError, match=r"^<file object>: patterns: fitted for 2 kernel layers \(entry 'n_layers'\), "
                                         "the network has 1"):
        loaded.check_network(rp.Sequential([rp.Dense(np.ones((3, 4)))]))


def _relabelled(estimator, variant="", rename=None, drop=()):
    def change(arrays):
        arrays["estimator"], arrays["variant"] = np.array(estimator), np.array(variant)
        for k in range(int(arrays["n_layers"])):
            for old, new in (rename or {}).items():
                arrays[f"layer_{k}.{new}"] = arrays.pop(f"layer_{k}.{old}")
            for name in drop:
                arrays.pop(f"layer_{k}.{name}", None)
    return change


@pytest.mark.parametrize("fitted, change, words", [
    # an S_a file relabelled S_a± with its one array as a_plus: the second regime's array is missing
    ("a", _relabelled("a+-", "paper", {"a": "a_plus"}), r"missing entry 'layer_0.a_minus'"),
    # an S_a± file relabelled S_a, keeping a_plus as a and dropping a_minus: its notes name the gate regimes
    ("a+-", _relabelled("a", "", {"a_plus": "a"}, ("a_minus",)),
     r"layer_0.degenerate_regime holds \['minus', 'plus'\], but estimator 'a' notes the regimes \['all'\] only"),
    # an S_a file relabelled S_a± with both arrays made up from the one: its notes name no gate regime
    ("a", lambda arrays: (_relabelled("a+-", "paper", {"a": "a_plus"})(arrays),
                          [arrays.__setitem__(f"layer_{k}.a_minus", arrays[f"layer_{k}.a_plus"]) for k in (0, 1)]),
     r"layer_0.degenerate_regime holds \['all'\], but estimator 'a\+-' notes the regimes \['plus', 'minus'\]"),
    # an S_w file (no data) relabelled S_a: a data estimator's layers all have counts
    ("w", _relabelled("a"), r"missing entry 'layer_0.counts': estimator 'a' is fitted on data"),
], ids=["S_a as S_a+- with one array", "S_a+- as S_a", "S_a as S_a+- with two arrays", "S_w as S_a"])
def test_an_estimator_entry_that_contradicts_the_arrays_is_refused_at_load(tmp_path, fitted, change, words):
    """A file relabelled to another estimator, with a consistent checksum, loaded and was used as
    that estimator's patterns whenever the arrays it names were present; the entries that only the
    true estimator writes (its degenerate regimes, counts) now contradict the label."""
    _, patterns, path = saved_patterns(tmp_path, fitted)
    assert fitted == "w" or patterns[0].degenerate
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'crafted.npz'}: {words}"):
        Patterns.load(rewritten(path, tmp_path, change))


def test_a_seed_the_file_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    """default_rng takes any non-negative int; the file's seed entry is int64, and saving a
    seed >= 2**63 ended in NumPy's OverflowError."""
    net = two_layer_net()
    for seed in (2 ** 63 - 1, 2 ** 63):
        patterns = rp.fit_patterns(net, None, "random", seed=seed)
        path = tmp_path / f"{seed}.npz"
        if seed < 2 ** 63:
            patterns.save(path)
            assert Patterns.load(path).seed == seed
        else:
            with pytest.raises(ValueError, match=f"seed: .*{seed}.*int64"):
                patterns.save(path)
            assert not path.exists()


# --- estimators and options ------------------------------------------------------------------

def test_the_abstract_estimator_is_refused_at_the_api():
    """Estimator (the base class) or an instance of it passed resolve_estimator and crashed with
    NotImplementedError inside the fit."""
    net = two_layer_net()
    x = np.random.default_rng(2).normal(size=(30, 4))
    for estimator in (Estimator, Estimator()):
        with pytest.raises(TypeError, match="estimator: .*abstract base"):
            rp.fit_patterns(net, x, estimator)
        with pytest.raises(TypeError, match="estimator: .*abstract base"):
            rho(net, x, estimator)


def test_second_moment_must_be_a_bool():
    """second_moment="no" was read as True (a non-empty string)."""
    net = two_layer_net()
    x = np.random.default_rng(2).normal(size=(30, 4))
    for value in ("no", None, 1):
        with pytest.raises(TypeError, match="second_moment: expected True or False"):
            rp.fit_statistics(net, x, second_moment=value)
    assert rp.fit_statistics(net, x, second_moment=np.True_)[0].sum_xx.shape == (4, 4)


# --- refpattern.testing ------------------------------------------------------------------------

def test_assert_explanation_close_refuses_a_masked_actual_with_masked_entries():
    """numpy.asarray dropped the mask, so the values under it were compared (and passed)."""
    from refpattern.testing import assert_explanation_close

    net = two_layer_net(out=3)
    x = np.random.default_rng(2).normal(size=(3, 4))
    reference = rp.explain(net, x, "gradient")
    masked = np.ma.masked_array(reference, mask=np.zeros(reference.shape, dtype=bool))
    assert_explanation_close(masked, net, x, "gradient")  # nothing masked: its values
    masked[0, 0] = np.ma.masked
    with pytest.raises(ValueError, match="actual: a masked array with 1 masked entries"):
        assert_explanation_close(masked, net, x, "gradient")


@pytest.fixture(scope="module")
def reference_arrays(tmp_path_factory):
    from refpattern.testing import save_reference

    net = two_layer_net(out=3)
    x = np.random.default_rng(2).normal(size=(3, 4))
    path = save_reference(tmp_path_factory.mktemp("reference") / "reference.npz", net, x, ["gradient"])
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def crafted_reference(arrays, tmp_path, change):
    """A copy of a reference file's ``arrays`` after ``change(arrays, manifest)``; the edited manifest
    is written back unless ``change`` replaced the manifest entry itself."""
    import json

    arrays = dict(arrays)
    written = arrays["manifest.json"]
    manifest = json.loads(str(written))
    change(arrays, manifest)
    if arrays["manifest.json"] is written:
        arrays["manifest.json"] = np.array(json.dumps(manifest))
    path = tmp_path / "crafted.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("change,words", [
    (lambda a, m: a.__setitem__("manifest.json", np.array("{not json")), "manifest.json is not JSON"),
    (lambda a, m: (m.clear(), m.update({"format": "refpattern.reference", "version": 1})), "'entries' should be"),
    (lambda a, m: m.__setitem__("methods", []), "'methods' should be a JSON object"),
    (lambda a, m: m["methods"]["gradient"].pop("explanation"), "method 'gradient' should have"),
    (lambda a, m: m["methods"]["gradient"]["explanation"].__setitem__("NCHW", "nope"), "entry 'nope' is not in"),
    (lambda a, m: m["network"].__setitem__("torch", [{"w": {"array": "nope", "shape": [1], "dtype": "f8"}}]),
     "refers to an entry 'nope'"),
    (lambda a, m: (a.pop("y_t"), m["entries"].remove("y_t")), "missing entry 'y_t'"),
    (lambda a, m: m.__setitem__("version", True), "version True"),
])
def test_load_reference_refuses_a_malformed_manifest_naming_the_file(reference_arrays, tmp_path, change, words):
    """A manifest that is not what save_reference writes ended in KeyError, AttributeError or a bare
    JSONDecodeError (load_reference is copied into other test suites, which then see those)."""
    from refpattern.testing import load_reference

    path = crafted_reference(reference_arrays, tmp_path, change)
    with pytest.raises(ValueError, match="crafted.npz: .*" + words.replace("(", r"\(")):
        load_reference(path)


def test_load_reference_refuses_what_is_not_an_npz_archive(tmp_path):
    from refpattern.testing import load_reference

    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single.npy: .*not an .npz archive"):
        load_reference(single)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"xx")
    with pytest.raises(ValueError, match="garbage.npz: not a readable refpattern reference file"):
        load_reference(garbage)


# --- data that is constant but for the rounding of the forward pass ------------------------------

@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_identical_samples_through_a_padded_convolution_give_zero_patterns_on_every_backend(backend):
    """Every sample is the same, so the Dense layer after the convolution sees one input vector:
    σ²_y = 0 for each of its neurons, whose S_a and regime-S_a± patterns must be zero (a degenerate
    entry) and whose ρ is undefined.  The Numba forward pass gives the identical samples outputs that
    differ in the last bit, and the zero test, relative to the shifted moments (themselves rounding
    noise), passed: S_a was an O(1) pattern drawn from noise (0.60 here), ρ 0 in-sample and 1.74
    held-out, where NumPy gave zero, NaN and 1."""
    if backend == "numba":
        pytest.importorskip("numba")
    rng = np.random.default_rng(4)
    conv = rp.Conv2D(rng.normal(size=(3, 2, 3, 3)), rng.normal(0, 0.1, 3), padding="same")
    net = rp.Sequential([conv, rp.ReLU(), rp.Flatten(), rp.Dense(rng.normal(size=(2, 75)))], input_shape=(2, 5, 5))
    x = np.ones((4, 2, 5, 5))
    for estimator, variant in (("a", None), ("a+-", "paper"), ("a+-", "regime")):
        dense = rp.fit_patterns(net, x, estimator, variant=variant, backend=backend)[1]
        np.testing.assert_array_equal(dense.a_plus, 0.0)
        np.testing.assert_array_equal(dense.a_minus, 0.0)
        assert all(entry.zeroed for entry in dense.degenerate)
    assert np.isnan(rho(net, x, "w", backend=backend).per_neuron[1]).all()
    varied = np.concatenate([x, x + rng.normal(size=x.shape)])
    np.testing.assert_array_equal(rho(net, varied, "w", fit_v_on=x, backend=backend).per_neuron[1], 1.0)


def test_a_regime_without_observations_has_sums_of_exactly_zero_after_a_merge():
    """A neuron whose gate never closed has no gate-closed observation: each of its gate-closed sums
    is a sum over nothing, 0 (docs/math.md#statistics-regimes), and so is every E₋ moment.  The
    gate-closed Σx̃ is the difference Σx̃ − Σx̃g of two sums of the same terms taken in different
    orders (a loop and a GEMM with the Numba kernels), so it was rounding noise (~1e-15), and
    re-centring (every merge, every Dask fit) multiplied it into Σx̃ỹ(1 − g) (~1e-14), the sum the
    kernels had just taken exactly 0.  The never-open neuron's open regime is the mirror case."""
    pytest.importorskip("numba")
    layer = rp.Conv2D(np.random.default_rng(0).normal(size=(2, 2, 3, 3)), np.array([1e3, -1e3]), padding=1)
    parts = []
    for seed, mean in ((0, 0.0), (1, 3.0)):  # two parts around different shifts
        x = np.random.default_rng(seed).normal(mean, 1.0, (3, 2, 5, 5))
        stats = LayerStatistics(layer, 0, 0)
        stats.accumulate(x, layer.forward(x), backend="numba")
        parts.append(stats)
    merged = parts[0].merge(parts[1])
    assert merged.n_minus[0] == 0 and merged.n_plus[1] == 0
    for stats in (parts[0], parts[1], merged):
        assert stats.shift is not None and not np.array_equal(merged.shift, parts[1].shift)
        moments = stats.moments()
        for name, value in (("sum_x_minus", stats.sum_x_minus[:, 0]), ("sum_xy_minus", stats.sum_xy_minus[:, 0]),
                            ("sum_y_minus", stats.sum_y_minus[0]), ("sum_yy_minus", stats.sum_yy_minus[0]),
                            ("sum_x_plus", stats.sum_x_plus[:, 1]), ("sum_xy_plus", stats.sum_xy_plus[:, 1]),
                            ("sum_y_plus", stats.sum_y_plus[1]), ("sum_yy_plus", stats.sum_yy_plus[1])):
            np.testing.assert_array_equal(value, 0.0, err_msg=name)
        for name in ("x_minus", "xy_minus"):
            np.testing.assert_array_equal(moments[name][:, 0], 0.0, err_msg=name)
        for name in ("x_plus", "xy_plus"):
            np.testing.assert_array_equal(moments[name][:, 1], 0.0, err_msg=name)


# --- which regime's input sums a neuron stores is a storage choice ---------------------------------

def _patch_rows(x, kernel, stride, pads):
    """The (M, D) patches of ``x`` (N, C, H, W), rows in the order (n, p, q), by plain slicing."""
    (kh, kw), (sh, sw), ((top, bottom), (left, right)) = kernel, stride, pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh, ow = (padded.shape[2] - kh) // sh + 1, (padded.shape[3] - kw) // sw + 1
    return np.array([padded[n, :, p * sh:p * sh + kh, q * sw:q * sw + kw].ravel()
                     for n in range(x.shape[0]) for p in range(oh) for q in range(ow)])


@pytest.mark.parametrize("path", ["numpy", "numba accumulate", "numba forward"])
def test_any_closed_inputs_flags_give_the_input_sums_of_the_flagged_regime(path):
    """``closed_inputs`` only says which regime's input sums the third product block stores
    (docs/math.md#regime-input-sums): with any flags -- the data's smaller regime, the larger one,
    all True, all False -- every kernel stores ``Σx̃(1 − g)`` where a flag is set and ``Σx̃g`` elsewhere,
    with the gate it counts in ``n_plus``.  So the fused pass, which chooses the flags from a forward
    pass of its own and gates by its own arithmetic, cannot store the wrong regime where the two differ
    on a pre-activation within rounding of 0.  Checked against math.fsum of each regime's terms."""
    import math

    from refpattern.kernels import get_backend

    if path != "numpy":
        pytest.importorskip("numba")
    rng = np.random.default_rng(8)
    layer = rp.Conv2D(rng.normal(size=(3, 2, 2, 3)), np.array([0.5, -0.5, 0.0]), stride=(2, 1),
                      padding=((1, 0), (0, 2)))
    x = rng.normal(0.4, 1.0, (2, 2, 5, 4))
    z = layer.forward(x, "numpy")
    weight, conv = layer.weight.reshape(3, -1), (layer.kernel_size, layer.stride, layer.pads(x.shape[2:]))
    shift = rng.normal(0.4, 0.2, weight.shape[1])
    shifted = _patch_rows(x, *conv) - shift
    gate = np.moveaxis(z, 1, -1).reshape(-1, 3) > 0
    assert 0 < gate[:, 0].sum() < len(gate) and 0 < gate[:, 1].sum() < len(gate)  # both regimes met
    backend = get_backend(path.split()[0])
    for flags in ([False] * 3, [True] * 3, [True, False, True], [False, True, False]):
        flags = np.array(flags)
        sums = {"products": np.zeros((shifted.shape[1], 9)), "sum_x": np.zeros(shifted.shape[1]),
                "n_plus": np.zeros(3, np.int64), "output_sums": np.zeros((4, 3))}
        if path == "numba forward":
            backend.forward_statistics(x, weight, layer.bias, shift, conv, **sums, closed_inputs=flags)
        else:
            backend.accumulate_statistics(x, z, weight, shift, conv, **sums, closed_inputs=flags)
        np.testing.assert_array_equal(sums["n_plus"], gate.sum(axis=0))
        for o in range(3):
            regime = gate[:, o] != flags[o]  # g ⊕ f
            for d in range(shifted.shape[1]):
                terms = shifted[regime, d]
                error = abs(sums["products"][d, 6 + o] - math.fsum(terms))
                assert error <= 1e-13 * math.fsum(np.abs(terms)), (path, flags, o, d, error)
