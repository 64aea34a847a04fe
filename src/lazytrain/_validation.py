"""Input validation shared by every public entry point.

Every check raises :class:`ValueError` with a message that names the
parameter, the value received and what is allowed, in the spirit of
scikit-learn's boundary validation.
"""

from __future__ import annotations

import numbers
import os
import re

import numpy as np


def _show(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer() and np.isfinite(value):
            value = int(value)
        else:
            raise ValueError(f"{name} must be a positive integer, got {_show(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    return int(value)


def check_positive_float(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {_show(value)}") from None
    if not np.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {_show(value)}")
    return out


def normalise_name(value):
    """The one rule for names (regimes, activations, kinds, dtypes, methods), in the API and in
    specs alike: case and surrounding spaces do not matter ('NT', ' nt ' and 'nt' are 'nt').
    Anything that is not a string is returned unchanged (for the caller to refuse)."""
    return value.strip().lower() if isinstance(value, str) else value


def no_duplicates(name: str, values):
    """``values`` unchanged, or a ValueError naming ``name`` and the repeated values (None passes)."""
    if values is not None:
        seen, dup = set(), []
        for v in values:
            if v in seen:
                dup.append(v)
            seen.add(v)
        if dup:
            raise ValueError(f"{name} must not repeat values, got {sorted(set(dup))} more than once")
    return values


def check_choice(name: str, value, allowed) -> str:
    """Return the normalised name ``value`` (:func:`normalise_name`) if it is one of ``allowed``."""
    if not isinstance(value, str) or normalise_name(value) not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {_show(value)}")
    return normalise_name(value)


def check_device(device) -> str:
    """A torch device name that exists here: 'cpu', 'cuda', 'cuda:K' (K < the GPUs) or 'mps'.

    Checked without importing torch unless a GPU is asked for.
    """
    import re

    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device.strip().lower()):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:K' (K = GPU index) or 'mps', "
                         f"got {_show(device)}")
    device = device.strip().lower()
    if device == "cpu":
        return device
    import torch

    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise ValueError(f"device {device!r}: this machine has {count} CUDA GPU(s) usable by "
                             "torch; use device = 'cpu'" + (f" or 'cuda:0'..'cuda:{count - 1}'"
                                                           if count > 1 else ""))
    elif not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps': Apple's Metal GPU is not available here; use device = 'cpu'")
    return device


def check_finite_matrix(name: str, value, *, square: bool = True, symmetric: bool = False,
                        rtol: float = 1e-10) -> np.ndarray:
    """Return ``value`` as a float64 2-D array after checking shape, finiteness and symmetry."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array, got {_show(value)}") from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got an array of shape {arr.shape}")
    if square and arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} must be finite, but {name}[{i}, {j}] = {arr[i, j]} "
            f"({int(bad.sum())} non-finite entries)"
        )
    if symmetric:
        asym = np.max(np.abs(arr - arr.T))
        scale = max(np.max(np.abs(arr)), np.finfo(float).tiny)
        if asym > rtol * scale:
            raise ValueError(
                f"{name} must be symmetric: max |{name} - {name}.T| = {asym:.3g} "
                f"exceeds the tolerance {rtol:g} x max|{name}| = {rtol * scale:.3g}"
            )
        arr = (arr + arr.T) / 2
    return arr


def check_weights(W, d: int) -> np.ndarray:
    """Validate a first-layer weight matrix of shape (n_neurons, d)."""
    try:
        arr = np.asarray(W, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"W must be a numeric array of shape (n_neurons, {d}), got {_show(W)}") from None
    if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] < 1:
        raise ValueError(
            f"W must have shape (n_neurons, d) = (N, {d}) with N >= 1 (row i is w_i), "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"W must be finite, got {int((~np.isfinite(arr)).sum())} non-finite entries")
    return arr


def check_neuron_variances(q: np.ndarray) -> np.ndarray:
    """Raise unless every pre-activation variance q_i = w_iᵀΣw_i is positive (no zero rows of W)."""
    if np.any(~(q > 0)):
        i = int(np.argmin(np.where(np.isnan(q), -np.inf, q)))
        raise ValueError(
            f"every pre-activation needs a positive variance, but row {i} of W gives "
            f"variance {q[i]:.3g} (a zero weight row?)"
        )
    return q


def as_generator(seed, name: str = "seed") -> np.random.Generator:
    """Turn an int seed or an existing Generator into a numpy Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer or a numpy Generator, got {_show(seed)}")
    return np.random.default_rng(int(seed))


def check_options(function: str, impl, options: dict, skip: int = 4) -> None:
    """Refuse keyword options that ``impl`` (a task's implementation of ``function``) does not
    take, naming them and the ones it does, instead of Python's "_() got an unexpected keyword
    argument" from deep inside the dispatch. ``skip``: positional parameters that are not options.
    """
    import inspect

    if not options:
        return
    params = list(inspect.signature(impl).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    allowed = [p.name for p in params[skip:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"{function}() got unknown option(s) {unknown}; for this task the options "
                        f"are {allowed or 'none'}")


def available_memory() -> int:
    """The memory this machine can give now (Linux MemAvailable; else the physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**62


# ---------------------------------------------------------------- memory, refused up front
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
          "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12,
          "tib": 2**40}


class MemoryLimitError(MemoryError, ValueError):
    """A job refused before it allocates: its estimated memory exceeds the limit (``max_memory``)."""


def parse_size(value, name: str = "max_memory") -> int:
    """Bytes from an int or a string such as '8GB', '512MiB', '2.5G' (binary for K, M, G, T)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a size such as '8GB' or a number of bytes, got {value!r}")
    if isinstance(value, numbers.Real):
        size = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"{name} must be a size such as '8GB', '512MiB' or a number of "
                             f"bytes, got {_show(value)}")
        size = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not size > 0 or size == float("inf"):
        raise ValueError(f"{name} must be a positive size, got {_show(value)}")
    return int(size)


def format_size(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def memory_limit(max_memory=None) -> tuple[int, str]:
    """The memory limit in bytes and where it comes from: ``max_memory`` (bytes or '4GB'), else
    the environment variable ``LAZYTRAIN_MAX_MEMORY``, else the memory available now."""
    if max_memory is not None:
        return parse_size(max_memory), "max_memory"
    env = os.environ.get("LAZYTRAIN_MAX_MEMORY")
    if env:
        return parse_size(env, "LAZYTRAIN_MAX_MEMORY"), "LAZYTRAIN_MAX_MEMORY"
    return available_memory(), "the memory available on this machine"


def check_memory(need: float, max_memory, job: str, advice: str) -> int:
    """Refuse (:class:`MemoryLimitError`) a job whose estimated peak ``need`` (bytes) exceeds the
    limit of :func:`memory_limit`, before anything is allocated; returns the limit."""
    limit, source = memory_limit(max_memory)
    if need > limit:
        raise MemoryLimitError(f"{job} needs about {format_size(need)} of memory, more than the limit "
                               f"{format_size(limit)} ({source}); {advice}, or raise max_memory")
    return limit


def sgd_memory(d: int, widths, batch_size: int, steps: int = 0, width: int = 4, regime: str = "nt") -> dict:
    """Estimated peak memory (bytes) of one SGD run that trains ``widths`` together, by the spec
    field that drives each term. All widths share each batch, so the (batch, ΣN) pre-activations,
    features and their gradients grow with the SUM of the widths, not the largest; NT's per-width
    N×N matrices (the Gram preconditioner) with Σ N². ``width``: bytes per float of the training
    dtype. Checked against peaks measured in a subprocess (tests/test_memory_limits.py): rf, nt
    and nn, quadratic and ReLU, d = 30, ΣN = 1500-6000, batch 2000-8000 peaked at 2.1-5.4
    (batch, ΣN) arrays, overheads included; the estimate counts :data:`SGD_BATCH_ARRAYS`, plus
    4 N×N float64 per NT width and 64 MiB of torch workspace."""
    widths = [int(n) for n in widths]
    total = sum(widths)
    batch = int(batch_size)
    per_row = width * batch * SGD_BATCH_ARRAYS * total      # (batch, ΣN) arrays alive at once
    return {
        "task.d": 8 * 4 * d * d,                            # the task; the network as c + xᵀMx
        # weights, copies, gradients; the N×N matrices; half the (batch, ΣN) arrays
        "N": (8 * 4 + width * 4) * total * d + per_row / 2 + 64 * 2**20
             + (8 * 4 * sum(n * n for n in widths) if regime == "nt" else 0),
        "training.batch_size": width * batch * 2 * d + per_row / 2,  # a batch of (x, y)
        "training.steps": 8 * 2 * int(steps),               # the step-size schedule
    }


#: (batch, ΣN) arrays an SGD step is counted to hold at once (pre-activations, σ, σ', gradients).
SGD_BATCH_ARRAYS = 5
