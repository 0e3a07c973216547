"""Adversarial cases of refpattern as an oracle in another library's tests: the comparison helpers
(refpattern.testing.compare), reference files (save_reference / load_reference), and the network and
patterns files written through refpattern/files.py — odd argument types, crafted or hand-edited
archives and unwritable targets that once gave a crash inside, an unclear message or a silent pass."""

import io
import sys
import zipfile

import numpy as np
import pytest

import refpattern as rp
from refpattern.testing import compare_explanation, load_reference, save_reference


def dense_net(seed=0):
    rng = np.random.default_rng(seed)
    return rp.Sequential([rp.Dense(rng.normal(size=(5, 4)), rng.normal(size=5)), rp.ReLU(),
                          rp.Dense(rng.normal(size=(3, 5)), rng.normal(size=3))], input_shape=(4,))


def test_a_timedelta_actual_is_not_read_as_numbers():
    """numpy counts timedelta64 as an integer dtype, so a timedelta array was compared as its tick
    counts; it is refused like datetime64, naming the argument and the dtype."""
    net, x = dense_net(), np.random.default_rng(1).normal(size=(2, 4))
    reference = rp.explain(net, x, "gradient")
    ticks = np.round(reference * 1e6).astype("timedelta64[us]")
    with pytest.raises(TypeError, match=r"actual: expected a real numeric array .* got dtype timedelta64\[us\]"):
        compare_explanation(ticks, net, x, "gradient", rtol=1.0)
    # integers stay numbers: an integer map equal to an integer-valued reference passes
    assert compare_explanation(np.zeros((2, 4), dtype=np.int32), rp.Sequential([rp.Dense(np.zeros((3, 4)))]),
                               x, "gradient").passed


def small_patterns():
    net = dense_net()
    return net, rp.fit_patterns(net, np.random.default_rng(2).normal(size=(40, 4)), "a+-")


@pytest.mark.parametrize("kind", ["network", "patterns"])
def test_saving_into_a_missing_or_non_directory_names_the_target_not_a_temporary(tmp_path, kind):
    """The error of a save into a folder that does not exist named the hidden temporary file
    ('.p.npz.x1y2.tmp'), not the path the user gave."""
    net, patterns = small_patterns()
    save = net.save if kind == "network" else patterns.save
    target = tmp_path / "missing" / "p.npz"
    with pytest.raises(FileNotFoundError) as error:
        save(target)
    assert error.value.filename == str(target) and "missing' does not exist" in str(error.value)
    assert ".tmp" not in str(error.value)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="is not a directory") as error:
        save(tmp_path / "file" / "p.npz")
    assert error.value.filename == str(tmp_path / "file" / "p.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("path", [None, 3, 2.5, ["a.npz"]])
def test_a_path_that_is_no_path_is_refused_naming_the_argument(path):
    """None, an int (which open() would take as a file descriptor), a float or a list gave Python's
    'expected str, bytes or os.PathLike object' without naming the argument."""
    net, patterns = small_patterns()
    for call in (net.save, patterns.save, rp.Sequential.load, rp.Patterns.load):
        with pytest.raises(TypeError, match=rf"path: expected a file path .* got {type(path).__name__}"):
            call(path)


@pytest.mark.parametrize("stream", ["StringIO", "text file"])
def test_a_text_stream_is_refused_naming_the_argument_before_anything_is_written(tmp_path, stream):
    """Patterns.save / net.save into io.StringIO gave NumPy's "string argument expected, got 'bytes'"
    from inside np.savez, and the loads read a text stream as a damaged archive ("not a readable
    ... file (OSError: Can't do nonzero cur-relative seeks)"): an .npz archive is bytes, so a text
    stream is refused up front, naming the argument, what is accepted and what came."""
    net, patterns = small_patterns()
    reference = save_reference(tmp_path / "reference.npz", net, np.ones((1, 4)), "gradient")

    def open_stream(mode):
        return io.StringIO() if stream == "StringIO" else open(tmp_path / "text.npz", mode, encoding="utf-8")

    kind = "StringIO" if stream == "StringIO" else "TextIOWrapper"
    for save in (net.save, patterns.save):
        with open_stream("w") as handle:
            with pytest.raises(TypeError, match=rf"path: expected a file path .* or a binary file object "
                                                rf"\(open\(\.\.\., 'wb'\), io.BytesIO\); got the text stream {kind}"):
                save(handle)
            assert handle.tell() == 0  # nothing was written
    for load in (rp.Sequential.load, rp.Patterns.load):
        with open_stream("w") as handle:
            handle.write("x")
        with open_stream("r") as handle:
            with pytest.raises(TypeError, match=rf"path: expected .* \(open\(\.\.\., 'rb'\), io.BytesIO\); "
                                                rf"got the text stream {kind}"):
                load(handle)
    with open(reference, encoding="latin-1") as handle:
        with pytest.raises(TypeError, match="load_reference: path should be a file path or a binary file object "
                                            r"\(open\(\.\.\., 'rb'\), io.BytesIO\), got the text stream TextIOWrapper"):
            load_reference(handle)
    with pytest.raises(TypeError, match="save_reference: path must be a file path .* got StringIO"):
        save_reference(io.StringIO(), net, np.ones((1, 4)), "gradient")
    # a binary stream still works both ways, with the same bytes as a file
    buffer = io.BytesIO()
    patterns.save(buffer)
    buffer.seek(0)
    loaded = rp.Patterns.load(buffer)
    np.testing.assert_array_equal(loaded[0].a_plus, patterns[0].a_plus)


def test_a_file_object_open_the_wrong_way_is_refused_naming_the_argument(tmp_path):
    """Saving into a file opened 'rb' ended in io.UnsupportedOperation('write') from inside
    np.savez; loading from one opened 'wb' was called a damaged archive ("ValueError: read")."""
    net, patterns = small_patterns()
    target = tmp_path / "p.npz"
    target.write_bytes(b"old")
    for save in (net.save, patterns.save):
        with open(target, "rb") as handle:
            with pytest.raises(TypeError, match=r"path: expected .* a binary file object open for writing "
                                                r"\(open\(\.\.\., 'wb'\), io.BytesIO\); got BufferedReader "
                                                r".* mode 'rb'"):
                save(handle)
    assert target.read_bytes() == b"old"
    for load in (rp.Sequential.load, rp.Patterns.load):
        with open(target, "ab") as handle:
            with pytest.raises(TypeError, match=r"path: expected .* open for reading .* got BufferedWriter "
                                                r".* mode 'ab'"):
                load(handle)


@pytest.fixture(scope="module")
def reference_arrays(tmp_path_factory):
    net, x = dense_net(), np.random.default_rng(3).normal(size=(3, 4))
    path = save_reference(tmp_path_factory.mktemp("reference") / "reference.npz", net, x,
                          ["gradient", "integrated_gradients"], options={"integrated_gradients": {"steps": 3}})
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _write(path, arrays, compression=zipfile.ZIP_STORED):
    """``arrays`` as an .npz archive whose members are stored with ``compression``."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
            archive.writestr(name + ".npy", member.getvalue())
    return path


def _flip_manifest_bytes(path, arrays, compression, first):
    """Write the archive with ``compression`` and invert bytes ``first … 39`` of the manifest's compressed data."""
    _write(path, arrays, compression)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("manifest.json.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + first:start + 40] = bytes(b ^ 0xFF for b in raw[start + first:start + 40])
    path.write_bytes(bytes(raw))


def _corrupt_deflate(path, arrays):
    _flip_manifest_bytes(path, arrays, zipfile.ZIP_DEFLATED, 2)


def _unknown_compression(path, arrays):
    _write(path, arrays)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # local and central headers
        at = raw.find(signature)
        while at >= 0:
            raw[at + offset:at + offset + 2] = (99).to_bytes(2, "little")
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))


def _huge_declared_shape(path, arrays):
    _write(path, arrays)
    with zipfile.ZipFile(path, "a") as archive:
        member = io.BytesIO()
        np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (2**50,)})
        archive.writestr("zz.npy", member.getvalue() + bytes(16))


def _corrupt_lzma(path, arrays):
    _flip_manifest_bytes(path, arrays, zipfile.ZIP_LZMA, 9)  # past the LZMA properties


def _encrypted_flag(path, arrays):
    _write(path, arrays)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # general-purpose flag, bit 0: encrypted
        at = raw.find(signature)
        while at >= 0:
            raw[at + offset] |= 1
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage, reference_words, words", [
    (_corrupt_lzma, r"LZMAError: Corrupt input data", r"not a readable refpattern \w+ file \(LZMAError: Corrupt"),
    (_encrypted_flag, r"RuntimeError: File .* is encrypted", r"entry '[^']+' is encrypted; numpy.savez never encrypts"),
])
def test_an_lzma_corrupt_or_encrypted_archive_is_refused_naming_the_file(tmp_path, reference_arrays, damage,
                                                                          reference_words, words):
    """A member compressed with LZMA and corrupt raised lzma.LZMAError, one flagged as encrypted zipfile's
    RuntimeError ("password required"), out of every loader (Patterns.load, Sequential.load and
    load_reference): neither was among the errors they turn into a ValueError naming the file."""
    path = tmp_path / "damaged.npz"
    damage(path, reference_arrays)
    with pytest.raises(ValueError, match=rf"^{path}: not a readable refpattern reference file \(.*{reference_words}"):
        load_reference(path)
    for load in (rp.Patterns.load, rp.Sequential.load):
        with pytest.raises(ValueError, match=rf"^{path}: .*{words}"):
            load(path)


@pytest.mark.parametrize("damage, words", [
    (_corrupt_deflate, "error: Error -3 while decompressing"),
    (_unknown_compression, "NotImplementedError: That compression method is not supported"),
    (_huge_declared_shape, "MemoryError"),
])
def test_load_reference_names_the_file_for_a_damaged_or_crafted_archive(tmp_path, reference_arrays, damage, words):
    """A corrupt deflate stream raised zlib.error, an unknown compression method NotImplementedError
    and an entry declaring 8 PiB a MemoryError out of load_reference, naming no file (Patterns.load
    and Sequential.load already turned them into a ValueError)."""
    path = tmp_path / "damaged.npz"
    damage(path, reference_arrays)
    with pytest.raises(ValueError, match=rf"^{path}: not a readable refpattern reference file \(.*{words}"):
        load_reference(path)


def test_load_reference_refuses_a_manifest_nested_too_deeply(tmp_path, reference_arrays):
    """A manifest nested about as deep as Python's recursion limit raised RecursionError from json or
    from the resolution of array references."""
    text = str(reference_arrays["manifest.json"])
    limit = sys.getrecursionlimit()
    for depth in (limit - 50, 100 * limit):
        deep = text.replace('"network": {', '"network": {"deep": ' + "[" * depth + "]" * depth + ", ", 1)
        path = _write(tmp_path / f"deep{depth}.npz", {**reference_arrays, "manifest.json": np.array(deep)})
        with pytest.raises(ValueError, match=rf"^{path}: manifest.json is (nested too deeply|not JSON \(Recursion)"):
            load_reference(path)


@pytest.mark.parametrize("entry, value, words", [
    ("network.torch.0.weight", np.zeros((5, 3)),
     r"entry 'network.torch.0.weight' has shape \[5, 3\] and dtype float64; the manifest declares shape \[5, 4\] "
     r"and dtype float64"),
    ("network.keras.2.bias", np.zeros(3, dtype=np.float32),
     r"entry 'network.keras.2.bias' has shape \[3\] and dtype float32; the manifest declares shape \[3\] and dtype "
     r"float64"),
    ("resolved.integrated_gradients.alphas", np.zeros(4),
     r"entry 'resolved.integrated_gradients.alphas' has shape \[4\]"),
    ("explanation.gradient.NCHW", np.zeros((3, 5)), r"method 'gradient': its explanation 'explanation.gradient.NCHW' "
                                                    r"has shape \(3, 5\), which is not the shape of the inputs"),
    ("explanation.integrated_gradients.NCHW", np.zeros((2, 4)), "method 'integrated_gradients': its explanation"),
    ("targets", np.zeros(2, dtype=np.int64), r"targets has shape \(2,\); expected 1 dimension\(s\) and one row per "
                                             r"sample of x \(3\)"),
    ("logits", np.zeros(3), r"logits has shape \(3,\)"),
    ("x.NCHW", np.zeros(3), r"x.NCHW should be a float batch of at least 2 dimensions, got dtype float64 shape"),
])
def test_load_reference_refuses_entries_that_contradict_the_manifest_or_the_inputs(tmp_path, reference_arrays, entry,
                                                                                   value, words):
    """A hand-edited entry of another shape or dtype than the manifest declares, or an explanation,
    targets or logits that do not fit the inputs, was returned as if refpattern had written it."""
    path = _write(tmp_path / "edited.npz", {**reference_arrays, entry: value})
    with pytest.raises(ValueError, match=rf"^{path}: {words}"):
        load_reference(path)


def test_load_reference_reads_a_file_of_the_other_byte_order_and_names_a_file_object(tmp_path, reference_arrays):
    """The declared dtype is compared whatever byte order the writing machine had; a file object is
    named by its name, not its repr."""
    swapped = {name: value.astype(value.dtype.newbyteorder(">")) if value.dtype.kind in "fiuU" else value
               for name, value in reference_arrays.items()}
    loaded = load_reference(_write(tmp_path / "big_endian.npz", swapped))
    np.testing.assert_array_equal(loaded["network"]["torch"][0]["weight"], reference_arrays["network.torch.0.weight"])
    with open(_write(tmp_path / "edited.npz", {**reference_arrays, "targets": np.zeros(1, dtype=int)}), "rb") as file:
        with pytest.raises(ValueError, match=rf"^{tmp_path / 'edited.npz'}: targets has shape"):
            load_reference(file)
    with pytest.raises(TypeError, match="load_reference: path should be a file path or a binary file object, got "
                                        "NoneType"):
        load_reference(None)


@pytest.mark.parametrize("argument, value, error, words", [
    ("path", None, TypeError, "save_reference: path must be a file path (str, bytes or os.PathLike), got NoneType"),
    ("path", io.BytesIO(), TypeError, "save_reference: path must be a file path (str, bytes or os.PathLike), got "
                                      "BytesIO"),
    ("methods", None, TypeError, "save_reference: methods must be a method name or a sequence of them, got NoneType"),
    ("methods", 3, TypeError, "save_reference: methods must be a method name or a sequence of them, got int"),
    ("options", "lrp.epsilon", TypeError, "save_reference: options must be a dict {method: {option: value}}, got str"),
    ("options", {1: {}}, TypeError, "save_reference: options' keys must be method names (str), got 1"),
])
def test_save_reference_names_the_argument_of_a_wrong_type(tmp_path, argument, value, error, words):
    """None or an int as methods gave "'NoneType' object is not iterable", a string as options a
    ValueError from dict(), a file object as path pathlib's TypeError: none named the argument."""
    net, x = dense_net(), np.random.default_rng(3).normal(size=(2, 4))
    arguments = {"path": tmp_path / "r.npz", "methods": ["gradient"], "options": None, argument: value}
    with pytest.raises(error) as raised:
        save_reference(arguments["path"], net, x, arguments["methods"], options=arguments["options"])
    assert str(raised.value) == words
    assert list(tmp_path.iterdir()) == []


def test_save_reference_takes_a_bytes_path_and_names_a_missing_folder(tmp_path):
    """A bytes path (a path like any other to os) failed inside pathlib; a missing folder is named."""
    net, x = dense_net(), np.random.default_rng(3).normal(size=(2, 4))
    written = save_reference(bytes(tmp_path / "r.npz"), net, x, "gradient")
    assert written == tmp_path / "r.npz"
    np.testing.assert_array_equal(load_reference(written)["explanations"]["gradient"]["NCHW"],
                                  rp.explain(net, x, "gradient"))
    with pytest.raises(FileNotFoundError, match="missing' does not exist") as error:
        save_reference(tmp_path / "missing" / "r.npz", net, x, "gradient")
    assert error.value.filename == str(tmp_path / "missing" / "r.npz")


@pytest.mark.parametrize("value, error, words", [
    (np.full((5, 4), np.nan), ValueError, r"kernel layer 0 \(dense\): a contains NaN or inf"),
    (np.full((5, 4), 1j), TypeError, r"kernel layer 0 \(dense\): a must be a real \(float or int\) array, got dtype "
                                     r"complex128"),
    (np.ones((5, 4), dtype=bool), TypeError, "got dtype bool"),
    (np.full((5, 4), None), TypeError, "got dtype object"),
])
def test_hand_built_patterns_refuse_what_no_fit_returns_and_no_file_holds(value, error, words):
    """A NaN pattern was taken and then explained as 'the backward pass overflows float64'; a
    complex one lost its imaginary part with only a ComplexWarning; and Patterns.save wrote a file
    that Patterns.load refuses."""
    with pytest.raises(error, match=words):
        rp.patterns.LayerPatterns(0, 0, "dense", (5, 4), a=value)


def test_hand_built_patterns_refuse_counts_and_layers_of_the_wrong_kind(tmp_path):
    """Counts of another length saved a file Patterns.load refuses; a layer that is not a
    LayerPatterns ended in AttributeError."""
    net, patterns = small_patterns()
    first = patterns[0]
    with pytest.raises(ValueError, match=r"kernel layer 0 \(d\): counts must be three arrays of shape \(5,\)"):
        rp.patterns.LayerPatterns(0, 0, "d", (5, 4), a=first.a, counts=(np.ones(3),) * 3, n_samples=1)
    with pytest.raises(ValueError, match="n = n_plus \\+ n_minus = n_samples = 40"):
        rp.patterns.LayerPatterns(0, 0, "d", (5, 4), a=first.a, counts=(np.full(5, 40), np.ones(5), np.ones(5)),
                                  n_samples=40)
    with pytest.raises(TypeError, match=r"Patterns: layers\[1\] must be a LayerPatterns, got int"):
        rp.Patterns(patterns.estimator, [first, 7])
    with pytest.raises(TypeError, match="Patterns: layers must be a sequence of LayerPatterns, got NoneType"):
        rp.Patterns(patterns.estimator, None)
    # what is accepted round-trips: a hand-built copy saves, loads and explains bit for bit
    layers = [rp.patterns.LayerPatterns(k, p.layer_index, p.layer_name, p.shape, a_plus=p.a_plus, a_minus=p.a_minus,
                                        counts=p.counts, n_samples=p.n_samples) for k, p in enumerate(patterns)]
    rebuilt = rp.Patterns(patterns.estimator, layers, patterns.fingerprint)
    rebuilt.save(tmp_path / "p.npz")
    x = np.random.default_rng(5).normal(size=(2, 4))
    loaded = rp.Patterns.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(rp.explain(net, x, "pattern.attribution", patterns=loaded),
                                  rp.explain(net, x, "pattern.attribution", patterns=patterns))


def test_a_bytes_path_is_named_as_text_in_messages(tmp_path):
    """A bytes path (accepted like a str one) was named b'…' in every loader's message."""
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not an archive")
    for load in (rp.Patterns.load, rp.Sequential.load):
        with pytest.raises(ValueError) as raised:
            load(bytes(damaged))
        assert str(raised.value).startswith(f"{damaged}: ") and "b'" not in str(raised.value)
