"""Linear models from TOML files (``docs/math.md#linear-config``): ``refpattern verify --config FILE``.

A file (or the name of a ready one in ``refpattern/linear/configs/``, :func:`config_names`) gives
a :class:`~refpattern.linear.model.LinearModel`, the default sample size and the claims'
options; :func:`load_config` reads and checks it and raises :class:`ConfigError` — one line
naming the key, what was expected and what came — for a file that is not TOML, an unknown or
missing key, a value of the wrong type, a non-finite number, a covariance that is not one, or a
singular covariance where one is needed.  Python 3.11's ``tomllib`` reads the file (on 3.10 the
``tomli`` package, if installed).

Directions are a list of rows of ``dimension`` numbers, or a rule (so that a model can be
re-made in another dimension, ``[claims] dimension_sweep``)::

    directions = { axes = [0, 3] }                          # unit vectors along axes 0 and 3
    directions = { random = "unit", count = 20, seed = 1 }  # random unit vectors
    directions = { random = "unit", count = 20, seed = 1, overlap = 0.7 }
                 # each at cos ∠ = overlap with the explained signal direction (the toy: 1/√2)

A covariance is a number (that variance times I), a list (the diagonal) or a matrix.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field

import numpy as np

from refpattern.linear.model import SIGNAL_KINDS, LinearModel

CONFIG_FOLDER = pathlib.Path(__file__).resolve().parent / "configs"
"""Where the ready configurations live (package data)."""

DEFAULT_CONFIG = "paper-toy"
"""The configuration ``refpattern verify`` checks without ``--config``."""

DEFAULT_TOML = """# The paper's linear toy (Kindermans et al., ICLR 2018, Sec. 2, Fig. 2): docs/math.md#toy.
#   x = a_s·y + a_d·ε,   y ~ U[-1, 1],   ε ~ N(μ, σ²)
# `refpattern verify` checks this one when no --config is given.
name = "paper-toy"
description = "the paper's 2-D toy (Sec. 2, Fig. 2): x = a_s·y + a_d·ε"
dimension = 2
explained = 0
samples = 1000000

[signal]
directions = [[1.0, 0.0]]     # a_s
distribution = "uniform"      # y ~ U[-scale, scale]
scale = 1.0

[distractor]
directions = [[1.0, 1.0]]     # a_d
mean = 0.0                    # μ (the S_a± claims also draw μ = 1)
covariance = 1.0              # σ² = 1

[noise]
covariance = 0.0
"""
"""The text of ``configs/paper-toy.toml`` (a test holds them equal): ``refpattern verify`` reads it when an
installation lacks the package data, so the default check never depends on a data file."""

MODEL_NAMES = {
    "signal_directions": "signal.directions", "signal_kinds": "signal.distribution",
    "signal_scales": "signal.scale", "distractor_directions": "distractor.directions",
    "distractor_mean": "distractor.mean", "distractor_covariance": "distractor.covariance",
    "cross_covariance": "distractor.signal_covariance", "noise_covariance": "noise.covariance",
    "explained": "explained",
}
"""How a model's errors name each argument: the keys of the file."""

KEYS = {
    "": {"name", "description", "dimension", "explained", "samples", "signal", "distractor", "noise", "claims",
         "network"},
    "signal": {"directions", "distribution", "scale"},
    "distractor": {"directions", "mean", "covariance", "signal_covariance"},
    "noise": {"covariance"},
    "claims": {"rotations_deg", "isotropic_sigma", "biased_mean", "random_directions", "dimension_sweep"},
    "network": {"hidden", "epochs", "train_samples", "seed", "learning_rate", "batch_size"},
}
"""Every key a file may have, per table."""

RULE_KEYS = {"axes", "random", "count", "seed", "overlap"}


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key (one line)."""


@dataclass(frozen=True)
class ClaimOptions:
    """What the claims ledger varies (``[claims]``; defaults are the toy's).

    The isotropic ``σ_n`` and the biased ``μ`` are sizes: a number given here (or in a file) is in the
    model's own units, like every other number of the model; left at None they are taken in units of the
    model's own scale (:meth:`isotropic_sigma_for`, :meth:`biased_mean_for`), so that a model scaled by
    ``10¹⁰⁰`` is checked as the unscaled one is, and the paper's toy (unit scale) gets ``σ_n = μ = 1``
    (``docs/math.md#linear-claim-scale``).

    Attributes
    ----------
    rotations_deg : angles the distractors are rotated by (claim 2)
    isotropic_sigma : ``σ_n`` of the isotropic-noise variant (claim 5); None: the explained signal's
        size in ``x``, ``c_k·|a_s,k|``
    biased_mean : the distractor mean of the ``S_a±`` bias claims; None: the model's own mean if
        it is not 0, else one standard deviation of each distractor
    random_directions : draws of the random baseline
    dimension_sweep : dimensions to re-make the model in for ρ(random) against ``D`` (empty: none)
    """

    rotations_deg: tuple = (-25.0, 0.0, 25.0, 45.0, 65.0, 90.0, 115.0)
    isotropic_sigma: float | None = None
    biased_mean: float | None = None
    random_directions: int = 2000
    dimension_sweep: tuple = ()

    def isotropic_sigma_for(self, model: LinearModel) -> float:
        """``σ_n`` of claim 5 on ``model``: the given one, else ``c_k·|a_s,k|`` (the explained signal's scale times
        the length of its direction: the size it has in ``x``; 1 on the toy), so that the noise's share of the
        output, ``σ_n²/(|a_s|²σ²_y)``, does not depend on the model's scale."""
        if self.isotropic_sigma is not None:
            return float(self.isotropic_sigma)
        k = model.explained
        return float(model.signal_scales[k] * np.linalg.norm(model.signal_directions[k]))

    def biased_mean_for(self, model: LinearModel):
        """``μ`` of the ``S_a±`` bias claims on ``model`` (a number, or one per distractor): the given one, else the
        model's own mean if it is not 0, else ``DEFAULT_BIASED_MEAN`` standard deviations of each distractor
        (``sqrt(Σ_dd,mm)``; 1 on the toy); a distractor without variance gets the size the explained signal has
        along its direction, ``c_k·|a_s,k|/|a_d,m|``."""
        if self.biased_mean is not None:
            return self.biased_mean
        if np.any(model.distractor_mean):
            return model.distractor_mean
        deviations = np.sqrt(np.diag(model.distractor_covariance))
        k = model.explained
        signal = model.signal_scales[k] * np.linalg.norm(model.signal_directions[k])
        sizes = np.where(deviations > 0, deviations,
                         signal / np.maximum(np.linalg.norm(model.distractor_directions, axis=1), 1e-300))
        means = DEFAULT_BIASED_MEAN * sizes
        return float(means[0]) if np.all(means == means[0]) else means


DEFAULT_BIASED_MEAN = 1.0
"""The distractor mean of the ``S_a±`` bias claims when a model's own is 0, in standard deviations of the
distractor (the paper's toy: ``μ = σ = 1``)."""


@dataclass(frozen=True)
class NetworkOptions:
    """A shallow ReLU network ``Dense(D, hidden) → ReLU → Dense(hidden, 2)`` trained on the sign of the
    explained signal component (``[network]``; ``docs/math.md#linear-relu-network``)."""

    hidden: int = 6
    epochs: int = 20
    train_samples: int = 4000
    seed: int = 0
    learning_rate: float = 0.01
    batch_size: int = 64


@dataclass(frozen=True)
class LinearConfig:
    """A checked configuration: the model, the default ``samples``, the claims' and the network's
    options, where it came from, and its raw tables (:meth:`model_at` re-makes the model)."""

    model: LinearModel
    samples: int | None
    claims: ClaimOptions
    network: NetworkOptions | None
    source: str
    table: dict = field(repr=False)

    @property
    def name(self) -> str:
        return self.model.name

    def model_at(self, dimension: int) -> LinearModel:
        """The same configuration in ``dimension`` dimensions (directions must be rules)."""
        return build_model({**self.table, "dimension": int(dimension)}, self.model.name)


def config_names() -> list:
    """The names of the ready configurations (``--config NAME``)."""
    return sorted({path.stem for path in CONFIG_FOLDER.glob("*.toml")} | {DEFAULT_CONFIG})


def config_path(name_or_path) -> pathlib.Path:
    """The file of a ready configuration's name, or the path itself (which must exist)."""
    text = str(name_or_path)
    ready = CONFIG_FOLDER / f"{text}.toml"
    if "/" not in text and "\\" not in text and not text.endswith(".toml") and ready.is_file():
        return ready
    path = pathlib.Path(text)
    if not path.is_file():
        raise ConfigError(f"{text}: no such file, and not a ready configuration (those are: "
                          f"{', '.join(config_names())})")
    return path


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("reading a configuration needs Python >= 3.11 (tomllib) or the tomli package "
                              "(pip install tomli)") from None
    return tomllib


def load_config(name_or_path=DEFAULT_CONFIG) -> LinearConfig:
    """Read, check and build a configuration (a ready one's name or a path); :class:`ConfigError` if unusable."""
    tomllib = _toml()
    if str(name_or_path) == DEFAULT_CONFIG and not (CONFIG_FOLDER / f"{DEFAULT_CONFIG}.toml").is_file():
        return config_from_table(tomllib.loads(DEFAULT_TOML), DEFAULT_CONFIG, f"{DEFAULT_CONFIG} (built in)")
    path = config_path(name_or_path)
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not a valid TOML file ({error})") from None
    except UnicodeDecodeError as error:  # tomllib decodes UTF-8 first: a binary file is not TOML either
        raise ConfigError(f"not a valid TOML file (not UTF-8 text: {error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ConfigError(f"cannot read it ({error.strerror or error})") from None
    return config_from_table(table, path.stem, str(path))


def config_from_table(table: dict, default_name: str = "config", source: str = "") -> LinearConfig:
    """:func:`load_config` on an already parsed table."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table of keys, got {type(table).__name__}")
    _check_keys(table, "")
    for section in ("signal", "distractor", "noise", "claims", "network"):
        if section in table:
            if not isinstance(table[section], dict):
                raise ConfigError(f"{section}: expected a table ([{section}]), got {_kind(table[section])}")
            _check_keys(table[section], section)
    name = table.get("name", default_name)
    if not isinstance(name, str):
        raise ConfigError(f"name: expected a string, got {_kind(name)}")
    model = build_model(table, name)
    samples = table.get("samples")
    if samples is not None:
        samples = _integer(samples, "samples", 1)
    claims = _claim_options(table.get("claims", {}), model, table)
    network = _network_options(table["network"]) if "network" in table else None
    return LinearConfig(model, samples, claims, network, source, table)


def build_model(table: dict, name: str) -> LinearModel:
    """The :class:`LinearModel` of a configuration's tables (keys named in every error)."""
    if "dimension" not in table:
        raise ConfigError("dimension: missing (the number D of input dimensions)")
    dimension = _integer(table["dimension"], "dimension", 1)
    if "signal" not in table or "directions" not in table["signal"]:
        raise ConfigError("signal.directions: missing (K rows of D numbers, or a rule such as { axes = [0] })")
    signal = table["signal"]
    explained = _integer(table.get("explained", 0), "explained", 0)
    signal_directions = _directions(signal["directions"], "signal.directions", dimension, None)
    if explained >= len(signal_directions):
        raise ConfigError(f"explained: expected a signal component 0…{len(signal_directions) - 1}, got {explained}")
    kinds = signal.get("distribution", "uniform")
    if isinstance(kinds, str):
        kinds = [kinds] * len(signal_directions)
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ConfigError(f"signal.distribution: expected one of {SIGNAL_KINDS} or a list of them, got {_kind(kinds)}")
    scale = _numbers(signal.get("scale", 1.0), "signal.scale")
    distractor = table.get("distractor", {})
    directions = None
    if "directions" in distractor:
        directions = _directions(distractor["directions"], "distractor.directions", dimension,
                                 signal_directions[explained])
    elif distractor:
        raise ConfigError("distractor.directions: missing (the [distractor] table needs its directions)")
    arguments = {
        "signal_directions": signal_directions, "signal_kinds": kinds, "signal_scales": scale,
        "distractor_directions": directions, "explained": explained, "name": name,
        "description": _string(table.get("description", ""), "description"), "names": MODEL_NAMES,
        "noise_covariance": _numbers(table.get("noise", {}).get("covariance", 0.0), "noise.covariance"),
    }
    for key, argument in (("mean", "distractor_mean"), ("covariance", "distractor_covariance"),
                          ("signal_covariance", "cross_covariance")):
        if key in distractor:
            arguments[argument] = _numbers(distractor[key], f"distractor.{key}")
    try:
        return LinearModel(**arguments)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _claim_options(table: dict, model: LinearModel, whole: dict) -> ClaimOptions:
    options = {}
    if "rotations_deg" in table:
        rotations = _numbers(table["rotations_deg"], "claims.rotations_deg", vector=True)
        if rotations.ndim != 1:
            raise ConfigError(f"claims.rotations_deg: expected a list of angles, got a nested list (shape "
                              f"{rotations.shape})")
        options["rotations_deg"] = tuple(float(v) for v in rotations)
    if "isotropic_sigma" in table:
        options["isotropic_sigma"] = _positive(table["isotropic_sigma"], "claims.isotropic_sigma")
    if "biased_mean" in table:
        options["biased_mean"] = _number(table["biased_mean"], "claims.biased_mean")
    if "random_directions" in table:
        options["random_directions"] = _integer(table["random_directions"], "claims.random_directions", 10)
    if "dimension_sweep" in table:
        sweep = table["dimension_sweep"]
        if not isinstance(sweep, list) or not sweep:
            raise ConfigError(f"claims.dimension_sweep: expected a list of dimensions, got {_kind(sweep)}")
        dimensions = tuple(_integer(d, f"claims.dimension_sweep[{i}]", 1) for i, d in enumerate(sweep))
        for key in ("signal", "distractor"):
            directions = whole.get(key, {}).get("directions")
            if isinstance(directions, list):
                raise ConfigError(f"claims.dimension_sweep: {key}.directions must be a rule ({{ axes = … }} or "
                                  "{ random = … }) to re-make the model in other dimensions, not a list of rows")
        noise = whole.get("noise", {}).get("covariance", 0.0)
        if isinstance(noise, list):
            raise ConfigError("claims.dimension_sweep: noise.covariance must be a number (σ²·I) to re-make the model "
                              "in other dimensions, not a list or matrix")
        for index, dimension in enumerate(dimensions):
            try:
                swept = build_model({**whole, "dimension": dimension}, model.name)
            except ConfigError as error:
                raise ConfigError(f"claims.dimension_sweep[{index}] = {dimension}: {error}") from None
            values = np.linalg.eigvalsh(swept.input_covariance)
            if values[0] <= 1e-10 * values[-1]:
                raise ConfigError(f"claims.dimension_sweep[{index}] = {dimension}: the covariance of x is singular "
                                  f"(smallest eigenvalue {values[0]:.3g}); the random baseline against D needs a "
                                  "non-singular one (noise.covariance > 0): with a singular one ρ(random) = 0 always")
        options["dimension_sweep"] = dimensions
    if model.distractors == 0 and "biased_mean" in options:
        raise ConfigError("claims.biased_mean: the model has no distractor to give a mean")
    return ClaimOptions(**options)


def _network_options(table: dict) -> NetworkOptions:
    options = {}
    for key, minimum in (("hidden", 1), ("epochs", 1), ("train_samples", 10), ("batch_size", 1), ("seed", 0)):
        if key in table:
            options[key] = _integer(table[key], f"network.{key}", minimum)
    if "learning_rate" in table:
        options["learning_rate"] = _positive(table["learning_rate"], "network.learning_rate")
    return NetworkOptions(**options)


# --- values -------------------------------------------------------------------------------------

def _kind(value) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{type(value).__name__} {value!r}"


def _check_keys(table: dict, section: str) -> None:
    allowed = KEYS[section]
    for key in table:
        if key not in allowed:
            where = f"{section}.{key}" if section else key
            raise ConfigError(f"{where}: unknown key (expected one of {', '.join(sorted(allowed))})")


def _string(value, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {_kind(value)}")
    return value


def _number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float64's range
        raise ConfigError(f"{key}: not finite in float64 (an integer of {len(str(abs(value)))} digits)") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key}: not finite ({value})")
    return number


def _numbers(value, key: str, vector: bool = False):
    """A number, or a (nested) list of numbers as an array; every entry finite."""
    if isinstance(value, list):
        if not value and vector:
            return np.zeros(0)
        rows = [_numbers(v, f"{key}[{i}]") for i, v in enumerate(value)]
        shapes = {np.shape(r) for r in rows}
        if len(shapes) > 1:
            raise ConfigError(f"{key}: rows of different lengths ({sorted(len(np.atleast_1d(r)) for r in rows)})")
        return np.array(rows, dtype=np.float64)
    number = _number(value, key)
    return np.array([number]) if vector else number


def _integer(value, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {_kind(value)}")
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
    return int(value)


def _positive(value, key: str) -> float:
    number = _number(value, key)
    if not number > 0:
        raise ConfigError(f"{key}: must be > 0, got {value}")
    return number


def _directions(value, key: str, dimension: int, reference) -> np.ndarray:
    """Rows of ``dimension`` numbers, or a rule (module docstring)."""
    if isinstance(value, list):
        rows = _numbers(value, key)
        if rows.ndim != 2 or rows.shape[1] != dimension:
            got = ("an empty list" if rows.size == 0 else "a flat list" if rows.ndim == 1
                   else f"rows of {rows.shape[-1]}" if rows.ndim == 2 else f"a list nested {rows.ndim} deep")
            raise ConfigError(f"{key}: expected rows of dimension = {dimension} numbers, got {got}")
        return rows
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a list of rows or a rule ({{ axes = … }} or {{ random = … }}), "
                          f"got {_kind(value)}")
    for rule_key in value:
        if rule_key not in RULE_KEYS:
            raise ConfigError(f"{key}.{rule_key}: unknown key (expected one of {', '.join(sorted(RULE_KEYS))})")
    if ("axes" in value) == ("random" in value):
        raise ConfigError(f"{key}: a rule has either axes = [...] or random = \"unit\"")
    if "axes" in value:
        axes = value["axes"]
        if not isinstance(axes, list) or not axes:
            raise ConfigError(f"{key}.axes: expected a list of axis indices, got {_kind(axes)}")
        rows = np.zeros((len(axes), dimension))
        for i, axis in enumerate(axes):
            axis = _integer(axis, f"{key}.axes[{i}]", 0)
            if axis >= dimension:
                raise ConfigError(f"{key}.axes[{i}]: axis {axis} does not exist in dimension = {dimension}")
            rows[i, axis] = 1.0
        return rows
    if value["random"] != "unit":
        raise ConfigError(f"{key}.random: expected \"unit\", got {_kind(value['random'])}")
    count = _integer(value.get("count", 1), f"{key}.count", 1)
    seed = _integer(value.get("seed", 0), f"{key}.seed", 0)
    rows = np.random.default_rng([seed, dimension]).standard_normal((count, dimension))
    if "overlap" in value:
        overlap = _number(value["overlap"], f"{key}.overlap")
        if not -1.0 <= overlap <= 1.0 or reference is None:
            raise ConfigError(f"{key}.overlap: expected a cosine in [-1, 1] (distractors only), got {overlap}")
        if dimension < 2:
            raise ConfigError(f"{key}.overlap: needs dimension >= 2 (a direction at an angle to the signal)")
        if not np.any(reference):
            raise ConfigError(f"{key}.overlap: the explained signal direction is 0, so there is no angle to it")
        unit = reference / np.linalg.norm(reference)
        rows = rows - np.outer(rows @ unit, unit)
        rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return overlap * unit + math.sqrt(1.0 - overlap * overlap) * rows
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
