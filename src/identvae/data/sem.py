"""Nonstationary nonlinear SEM data for the NonSENS stand-in of Fig. 4 (docs/papers/ivae.md section
8).

NonSENS: in an SEM ``x_j = f_j(pa_j, n_j)`` whose disturbances n are modulated by a segment
index, the reduced form ``x = f(n)`` is a nonlinear ICA model with sources n. This module gives
the data of such a model: the simulated "hippo6" graph (six hippocampal regions, a known DAG) or
a user's file (CSV or NPZ with a ``segment`` column, optionally an edge list), both as a
``CausalData``, and the two-column Dataset of one bivariate NonSENS fit (``pair_dataset``).

Everything here is NumPy (no torch, no pandas): ``check_causal_file`` and the pair helpers run
when the workflow is parsed, so importing this module must stay light. ``Dataset`` is imported
only inside the function that builds one (``identvae.data.datasets`` imports torch)."""

from __future__ import annotations

import csv
import numbers
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from identvae.data.segments import draw_segment_sources, leaky_relu, sigmoid
from identvae.io import ArtifactError

if TYPE_CHECKING:
    from identvae.data.datasets import Dataset

Edges = tuple[tuple[int, int], ...]

HIPPO6_NODES = ("PRc", "PHc", "ERc", "CA3DG", "CA1", "Sub")  # topological order
# PRc->ERc, PHc->ERc, ERc->CA3DG, ERc->CA1, CA3DG->CA1, CA1->Sub
HIPPO6_EDGES: Edges = ((0, 2), (1, 2), (2, 3), (2, 4), (3, 4), (4, 5))
EXTRA_EDGE = (2, 5)  # ERc->Sub, the option ``extra_edge``
SEGMENT_COLUMN = "segment"


# --- the data of a causal-discovery run --------------------------------------------------------


@dataclass(frozen=True)
class CausalData:
    """Segment-modulated data of an SEM, as NonSENS sees it.

    ``x`` [T, d] float64, z-scored per column over all points (never per segment: the segment
    scales are the signal). ``segments`` [T] int64 labels 0..M-1. ``names`` one per column.
    ``edges`` the true (simulation) or reference (user file) graph as (cause, effect) column
    indices, or None. ``disturbances`` [T, d] float64, the true n (simulation only), or None.
    The arrays are made read-only so a shared instance cannot be changed by one consumer."""

    x: np.ndarray
    segments: np.ndarray
    names: tuple[str, ...]
    edges: Edges | None = None
    disturbances: np.ndarray | None = None

    def __post_init__(self) -> None:
        t, d = self.x.shape
        if self.segments.shape != (t,) or len(self.names) != d:
            raise ValueError(
                f"CausalData: x {self.x.shape}, segments {self.segments.shape} and "
                f"{len(self.names)} names disagree"
            )
        if self.disturbances is not None and self.disturbances.shape != (t, d):
            raise ValueError(f"CausalData: disturbances {self.disturbances.shape} != x {(t, d)}")
        for a, b in self.edges or ():
            if not (0 <= a < d and 0 <= b < d and a != b):
                raise ValueError(f"CausalData: edge {(a, b)} is not a pair of {d} columns")
        for array in (self.x, self.segments, self.disturbances):
            if array is not None:
                array.flags.writeable = False

    @property
    def n_segments(self) -> int:
        """M, the number of distinct segment labels."""
        return int(self.segments.max()) + 1


def zscore(x: np.ndarray) -> np.ndarray:
    """Each column minus its mean over all points, divided by its std over all points."""
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(axis=0)) / x.std(axis=0)


# --- settings ----------------------------------------------------------------------------------

MECHANISMS = ("nonadditive", "additive")
NOISES = ("laplace", "gaussian")
SEM_DEFAULTS: dict[str, Any] = {
    "n_segments": 40,  # spec default 40 x 500 (paper scale 84 x 518)
    "segment_size": 500,
    "mechanism": "nonadditive",
    "extra_edge": False,
    "noise": "laplace",
}
MIN_SEGMENTS = 3  # the NonSENS guarantee needs at least 3 segments
MIN_SEGMENT_SIZE = 2


def _int_at_least(settings: dict[str, Any], key: str, low: int) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"hippo6 data: {key} must be an integer >= {low}, got {value!r}")
    return int(value)


def sem_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config's hippo6 keys with defaults filled in, checked (ValueError naming the key and
    the value). Other keys of ``config`` are ignored."""
    s = SEM_DEFAULTS | {k: v for k, v in config.items() if k in SEM_DEFAULTS}
    s["n_segments"] = _int_at_least(s, "n_segments", MIN_SEGMENTS)
    s["segment_size"] = _int_at_least(s, "segment_size", MIN_SEGMENT_SIZE)
    for key, allowed in (("mechanism", MECHANISMS), ("noise", NOISES)):
        if s[key] not in allowed:
            raise ValueError(f"hippo6 data: {key} must be one of {allowed}, got {s[key]!r}")
    if not isinstance(s["extra_edge"], bool | np.bool_):
        raise ValueError(f"hippo6 data: extra_edge must be true or false, got {s['extra_edge']!r}")
    s["extra_edge"] = bool(s["extra_edge"])
    return s


# --- mechanisms --------------------------------------------------------------------------------

WEIGHT_RANGE = (0.5, 1.5)  # |w_jp|, with a random sign
SCALE_RANGE = (0.5, 2.0)  # c_j


def swish(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x): smooth and non-monotone below 0, a parent effect unlike tanh or lrelu."""
    return x * sigmoid(x)


PHIS: tuple[Callable[[np.ndarray], np.ndarray], ...] = (np.tanh, leaky_relu, swish)
PHI_NAMES = ("tanh", "lrelu", "swish")


@dataclass(frozen=True)
class Mechanisms:
    """The SEM's functions: ``pre_j = sum_p weights[j, p] * PHIS[phis[j, p]](x_p)`` over the
    parents p of j, then ``x_j = lrelu(scales[j] * lrelu(n_j + pre_j) + pre_j)`` (non-additive)
    or ``x_j = pre_j + n_j`` (``additive``). ``weights`` [d, d] is 0 and ``phis`` [d, d] is -1
    where p is no parent of j. Every edge goes from a lower to a higher index, so the column
    order is topological."""

    edges: Edges
    weights: np.ndarray
    phis: np.ndarray
    scales: np.ndarray
    additive: bool


def draw_mechanisms(
    rng: np.random.Generator, *, mechanism: str = "nonadditive", extra_edge: bool = False
) -> Mechanisms:
    """The hippo6 mechanisms: per edge a weight ``±U(0.5, 1.5)`` and a phi drawn uniformly from
    PHIS, per node a scale ``c_j ~ U(0.5, 2)``.

    Everything is drawn for the base edges plus EXTRA_EDGE whatever the options, and the extra
    edge is dropped afterwards unless ``extra_edge``, so neither option changes the other
    mechanisms (the additive control shares the weights of the non-additive model)."""
    if mechanism not in MECHANISMS:
        raise ValueError(f"unknown mechanism {mechanism!r}; known: {MECHANISMS}")
    d = len(HIPPO6_NODES)
    candidates = (*HIPPO6_EDGES, EXTRA_EDGE)
    signs = rng.choice([-1.0, 1.0], size=len(candidates))
    magnitudes = rng.uniform(*WEIGHT_RANGE, size=len(candidates))
    phi_index = rng.integers(0, len(PHIS), size=len(candidates))
    scales = rng.uniform(*SCALE_RANGE, size=d)
    edges = candidates if extra_edge else HIPPO6_EDGES
    weights = np.zeros((d, d))
    phis = np.full((d, d), -1, dtype=np.int64)
    for e, (p, j) in enumerate(edges):
        weights[j, p] = signs[e] * magnitudes[e]
        phis[j, p] = phi_index[e]
    return Mechanisms(edges, weights, phis, scales, mechanism == "additive")


def parent_input(mech: Mechanisms, j: int, x: np.ndarray) -> np.ndarray:
    """pre_j [T]: the summed parent effects on node j, from the columns of ``x`` [T, d]
    (only the parents' columns are read; 0 for a root)."""
    pre = np.zeros(len(x))
    for p in np.flatnonzero(mech.phis[j] >= 0):
        pre = pre + mech.weights[j, p] * PHIS[mech.phis[j, p]](x[:, p])
    return pre


def node_value(mech: Mechanisms, j: int, n_j: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x_j [T] from its disturbance ``n_j`` [T] and its parents' columns of ``x`` [T, d].

    Strictly increasing in n_j for fixed parents (slope >= 0.2 * c_j * 0.2 non-additive, 1
    additive), so n -> x is a bijection, as the reduced form of NonSENS needs."""
    pre = parent_input(mech, j, x)
    if mech.additive:
        return pre + n_j
    return leaky_relu(mech.scales[j] * leaky_relu(n_j + pre) + pre)


def sem_forward(n: np.ndarray, mech: Mechanisms) -> np.ndarray:
    """x [T, d] (not standardised) from the disturbances ``n`` [T, d], node by node in
    topological (column) order."""
    x = np.zeros_like(n, dtype=np.float64)
    for j in range(n.shape[1]):
        x[:, j] = node_value(mech, j, n[:, j], x)
    return x


# --- disturbances and the simulation -----------------------------------------------------------


def draw_disturbances(
    n_segments: int, segment_size: int, d: int, rng: np.random.Generator, noise: str = "laplace"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n [T, d], segments [T] int64, sigmas [M, d]), T = M L: contiguous segments of L points,
    ``n_tj = sigmas[segment_t, j] * eps_tj`` with eps unit-variance ``noise`` and
    ``sigmas ~ U(0.5, 3)``: the iVAE's centred segment sources
    (``segments.draw_segment_sources``, drawn in float32 as the official code's sources), which
    draw the sigmas before eps, so they do not depend on L."""
    n, labels, _, sigmas = draw_segment_sources(n_segments, segment_size, d, rng, noise=noise)
    return n.astype(np.float64), labels, sigmas


@dataclass(frozen=True)
class Hippo6Draw:
    """Everything a hippo6 simulation drew: for tests and diagnostics (``x_raw`` is x before
    the z-scoring, ``sigmas`` [M, d] the segment stds of the disturbances)."""

    mechanisms: Mechanisms
    sigmas: np.ndarray
    disturbances: np.ndarray
    segments: np.ndarray
    x_raw: np.ndarray


def draw_hippo6(config: dict[str, Any], seed: int) -> Hippo6Draw:
    """The hippo6 model and its sample (``sem_settings`` lists the keys).

    Two streams spawned from the seed, one for the mechanisms and one for the disturbances, so
    the mechanisms stay the same when only segment_size, n_segments or noise changes."""
    s = sem_settings(config)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    mech_rng, noise_rng = (
        np.random.default_rng(q) for q in np.random.SeedSequence(int(seed)).spawn(2)
    )
    mech = draw_mechanisms(mech_rng, mechanism=s["mechanism"], extra_edge=s["extra_edge"])
    n, segments, sigmas = draw_disturbances(
        s["n_segments"], s["segment_size"], len(HIPPO6_NODES), noise_rng, s["noise"]
    )
    return Hippo6Draw(mech, sigmas, n, segments, sem_forward(n, mech))


def simulate_hippo6(config: dict[str, Any], seed: int) -> CausalData:
    """The simulated stand-in of Fig. 4 (``draw_hippo6``), x z-scored per column over all
    points, with the true graph and the true disturbances."""
    draw = draw_hippo6(config, seed)
    return CausalData(
        x=zscore(draw.x_raw),
        segments=draw.segments,
        names=HIPPO6_NODES,
        edges=draw.mechanisms.edges,
        disturbances=draw.disturbances,
    )


# --- user files --------------------------------------------------------------------------------


class _Refusal:
    """Builds the ArtifactError of one file: ``fail(problem)`` names the file and the problem."""

    def __init__(self, kind: str, path: Path) -> None:
        self.prefix = f"{kind} {path}"

    def __call__(self, problem: str) -> ArtifactError:
        return ArtifactError(f"{self.prefix}: {problem}")


def _read_rows(path: Path, fail: _Refusal) -> list[list[str]]:
    """The non-blank rows of a CSV file, cells stripped (a UTF-8 byte-order mark is dropped)."""
    if not path.is_file():
        raise fail("no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise fail(f"cannot be read ({err})") from None
    return [row for row in rows if any(row)]


def _check_names(names: list[str], fail: _Refusal) -> None:
    if any(not name for name in names):
        raise fail(f"a column has an empty name (columns: {names})")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise fail(f"duplicated column names {duplicated}")


def _to_float(rows: list[list[str]], header: list[str], fail: _Refusal) -> np.ndarray:
    """The cells as a float64 array [rows, columns]; a bad cell is named by column and row
    (data rows count from 1 after the header)."""
    for r, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise fail(f"row {r} has {len(row)} values, the header has {len(header)} columns")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        pass
    for r, row in enumerate(rows, start=1):  # slow path only to name the bad cell
        for name, cell in zip(header, row, strict=True):
            try:
                float(cell)
            except ValueError:
                raise fail(f"column {name!r}, row {r}: {cell!r} is not a number") from None
    raise fail("cannot be parsed as numbers")  # unreachable unless numpy and float() disagree


def _csv_arrays(path: Path, fail: _Refusal) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X [T, d], segment [T] as read, names) of a CSV file."""
    rows = _read_rows(path, fail)
    if not rows:
        raise fail("empty file (no header)")
    header, body = rows[0], rows[1:]
    _check_names(header, fail)
    if SEGMENT_COLUMN not in header:
        raise fail(f"no {SEGMENT_COLUMN!r} column (columns: {header})")
    if not body:
        raise fail("no data rows")
    values = _to_float(body, header, fail)
    k = header.index(SEGMENT_COLUMN)
    names = [name for name in header if name != SEGMENT_COLUMN]
    return np.delete(values, k, axis=1), values[:, k], names


def _real(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)


def _npz_arrays(path: Path, fail: _Refusal) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X [T, d], segment [T] as read, names) of an NPZ file."""
    if not path.is_file():
        raise fail("no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise fail(f"not a readable NPZ file ({err})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise fail("not an NPZ archive (a single .npy array?); write it with np.savez")
    with loaded as f:
        missing = [key for key in ("X", SEGMENT_COLUMN) if key not in f.files]
        if missing:
            raise fail(f"missing array(s) {missing} (the file has {sorted(f.files)})")
        try:
            x, segment = f["X"], f[SEGMENT_COLUMN]
            names = f["names"] if "names" in f.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise fail(f"not a readable NPZ file ({err})") from None
    if x.ndim != 2 or not _real(x):
        raise fail(f"X must be a real 2-D array [T, d], got shape {x.shape}, dtype {x.dtype}")
    if segment.ndim != 1 or len(segment) != len(x) or not _real(segment):
        raise fail(
            f"segment must be {len(x)} integer labels (one per row of X), got shape "
            f"{segment.shape}, dtype {segment.dtype}"
        )
    if names is None:
        names = [f"x{i + 1}" for i in range(x.shape[1])]
    elif names.ndim != 1 or len(names) != x.shape[1] or names.dtype.kind not in "US":
        raise fail(
            f"names must be {x.shape[1]} strings, got shape {names.shape}, dtype {names.dtype}"
        )
    else:
        names = [(n.decode() if isinstance(n, bytes) else str(n)).strip() for n in names]
    _check_names(names, fail)
    return x.astype(np.float64), segment.astype(np.float64), names


def _check_values(
    x: np.ndarray, segment: np.ndarray, names: list[str], fail: _Refusal
) -> np.ndarray:
    """The checks common to both formats; returns the labels remapped to 0..M-1 (sorted)."""
    if x.shape[1] < 2:
        raise fail(f"{x.shape[1]} variable(s); causal discovery needs at least 2")
    for j, name in enumerate(names):
        if not np.isfinite(x[:, j]).all():
            raise fail(f"column {name!r} contains NaN or inf")
    if not np.isfinite(segment).all() or not np.array_equal(segment, np.round(segment)):
        raise fail(f"the {SEGMENT_COLUMN!r} labels must be integers")
    values, labels, counts = np.unique(segment, return_inverse=True, return_counts=True)
    if len(values) < MIN_SEGMENTS:
        raise fail(
            f"{len(values)} segment(s); NonSENS needs at least {MIN_SEGMENTS} distinct "
            f"{SEGMENT_COLUMN!r} values"
        )
    if counts.min() < MIN_SEGMENT_SIZE:
        small = values[counts < MIN_SEGMENT_SIZE].astype(np.int64)
        raise fail(f"segment(s) {small[:10].tolist()} have fewer than {MIN_SEGMENT_SIZE} points")
    constant = [name for j, name in enumerate(names) if np.ptp(x[:, j]) == 0]
    if constant:  # z-scoring would divide by 0
        raise fail(f"constant column(s) {constant}")
    return labels.reshape(-1).astype(np.int64)


def read_edge_file(path: str | Path, names: tuple[str, ...]) -> Edges:
    """The edges of a CSV edge list with the header ``source,target`` (node names), as column
    indices of ``names`` in file order (a repeated edge is kept once). An ArtifactError names
    the file and the problem: missing or unreadable, another header, a row without two
    values, an unknown node (named, with the known ones) and a self-loop."""
    fail = _Refusal("edge list file", Path(path))
    rows = _read_rows(Path(path), fail)
    if not rows or rows[0] != ["source", "target"]:
        raise fail(f"the header must be 'source,target', got {rows[0] if rows else 'nothing'}")
    index = {name: i for i, name in enumerate(names)}
    edges: list[tuple[int, int]] = []
    for r, row in enumerate(rows[1:], start=1):
        if len(row) != 2:
            raise fail(f"row {r} has {len(row)} values, expected source,target")
        for name in row:
            if name not in index:
                raise fail(f"row {r}: unknown node {name!r} (known: {list(names)})")
        if row[0] == row[1]:
            raise fail(f"row {r}: self-loop {row[0]!r} -> {row[1]!r}")
        edge = (index[row[0]], index[row[1]])
        if edge not in edges:
            edges.append(edge)
    return tuple(edges)


def read_causal_file(path: str | Path, edges_path: str | Path | None = None) -> CausalData:
    """A user's data file as CausalData (no disturbances), refused with an ArtifactError naming
    the file and the problem before anything else is done.

    ``.csv``: a header, one numeric column per variable and a ``segment`` column (anywhere).
    ``.npz``: ``X`` [T, d], ``segment`` [T], optional ``names`` [d] strings (default x1..xd).
    Labels may be any integers; they are remapped to 0..M-1 in sorted order. Refused: a
    missing or unreadable file, another suffix, no segment column, a non-numeric value, NaN or
    inf, a constant column, fewer than 2 variables, fewer than 3 segments, a segment with
    fewer than 2 points, duplicated or empty names, and a bad edge list (``read_edge_file``).
    x is z-scored per column over all points, like the simulation."""
    path = Path(path)
    fail = _Refusal("causal data file", path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x, segment, names = _csv_arrays(path, fail)
    elif suffix == ".npz":
        x, segment, names = _npz_arrays(path, fail)
    else:
        raise fail(f"unknown suffix {path.suffix!r}; use .csv or .npz")
    labels = _check_values(x, segment, names, fail)
    edges = None if edges_path is None else read_edge_file(edges_path, tuple(names))
    return CausalData(x=zscore(x), segments=labels, names=tuple(names), edges=edges)


def check_causal_file(path: str | Path, edges_path: str | Path | None = None) -> dict[str, Any]:
    """Check a user's file at workflow parse time (``read_causal_file``'s refusals); returns
    {"n_variables", "names", "n_segments", "n_points"}."""
    data = read_causal_file(path, edges_path)
    return {
        "n_variables": len(data.names),
        "names": list(data.names),
        "n_segments": data.n_segments,
        "n_points": len(data.x),
    }


# --- pairs and the pair dataset ----------------------------------------------------------------

PAIR_PATTERN = r"(0|[1-9][0-9]*)-(0|[1-9][0-9]*)"  # "i-j", canonical (no leading zeros)


def format_pair(pair: tuple[int, int]) -> str:
    """(0, 2) -> "0-2"; the pair must be integers 0 <= i < j."""
    i, j = pair
    if not all(isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in pair):
        raise ValueError(f"a pair is two integer column indices, got {pair!r}")
    if not 0 <= i < j:
        raise ValueError(f"a pair needs 0 <= i < j, got {pair!r}")
    return f"{int(i)}-{int(j)}"


def parse_pair(text: str) -> tuple[int, int]:
    """ "0-2" -> (0, 2); anything but a canonical "i-j" with i < j is a ValueError, so every
    pair has exactly one name (a wildcard value maps to one fit)."""
    match = re.fullmatch(PAIR_PATTERN, str(text))
    if match is None:
        raise ValueError(f"a pair is written 'i-j' (column indices, i < j), got {text!r}")
    pair = (int(match.group(1)), int(match.group(2)))
    format_pair(pair)
    return pair


#: The "pair" of a NonSENS fit of every variable at once (a method that fits them jointly).
JOINT = "joint"


def all_pairs(n_variables: int) -> list[str]:
    """Every pair "i-j", i < j < n_variables, in lexicographic order of (i, j) (numeric, so
    "0-2" comes before "0-10")."""
    if isinstance(n_variables, bool) or not isinstance(n_variables, numbers.Integral):
        raise ValueError(f"n_variables must be an integer, got {n_variables!r}")
    n = int(n_variables)
    return [format_pair((i, j)) for i in range(n) for j in range(i + 1, n)]


SOURCES = ("hippo6", "causal_file")


def causal_data(config: dict[str, Any], seed: int) -> CausalData:
    """The CausalData of a config: ``source: hippo6`` simulates (``simulate_hippo6``),
    ``source: causal_file`` reads ``path`` with the optional edge list ``edges``."""
    source = config.get("source")
    if source == "hippo6":
        return simulate_hippo6(config, seed)
    if source == "causal_file":
        if "path" not in config:
            raise ValueError("causal data: source 'causal_file' needs a 'path'")
        return read_causal_file(config["path"], config.get("edges"))
    raise ValueError(f"causal data: source must be one of {SOURCES}, got {source!r}")


def pair_dataset(config: dict[str, Any], seed: int) -> Dataset:
    """The Dataset of one NonSENS fit: columns ``config["pair"]`` of the causal data, or every
    column when the pair is ``JOINT``.

    observations: x[:, columns] (z-scored over all d columns' points) as float32; sources: the
    true disturbances of those columns, or [T, 0] for a file (no ground truth); labels the
    segments; split all 0 (the fit uses every point). mixing_params: "pair" (the columns, [2]
    or [d]), "edges" [E, 2] int64 (the whole graph, empty if none) and "names" [d] (a unicode
    array, loadable without pickle); config gains n_segments and obs_dim (2, or d)."""
    from identvae.data.datasets import Dataset

    if "pair" not in config:
        raise ValueError("causal data: config lacks 'pair'")
    joint = config["pair"] == JOINT
    pair = None if joint else parse_pair(config["pair"])
    data = causal_data(config, seed)
    if pair is not None and pair[1] >= len(data.names):
        raise ValueError(f"causal data: pair {config['pair']!r} but only {len(data.names)} columns")
    columns = list(range(len(data.names))) if joint else list(pair)
    t = len(data.x)
    sources = (
        np.zeros((t, 0), dtype=np.float32)
        if data.disturbances is None
        else data.disturbances[:, columns].astype(np.float32)
    )
    return Dataset(
        sources=sources,
        observations=data.x[:, columns].astype(np.float32),
        split=np.zeros(t, dtype=np.int8),
        mixing_name="sem_pair",
        mixing_params={
            "pair": np.array(columns, dtype=np.int64),
            "edges": np.array(data.edges or [], dtype=np.int64).reshape(-1, 2),
            "names": np.array(data.names),
        },
        config=dict(config) | {"n_segments": data.n_segments, "obs_dim": len(columns)},
        seed=int(seed),
        labels=np.array(data.segments),
    )
