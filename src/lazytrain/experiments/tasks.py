"""Task recipes of an experiment spec: the ``[task]`` table, validated and built.

Each recipe is a small pydantic model registered under its ``type`` in
:data:`TASK_TYPES`. A recipe knows how to build its task object and how to
describe it for the point hash (:meth:`TaskRecipe.identity`): everything
that determines the task and nothing else (a ``.npy`` file is identified by
its content, not its path). Adding a task to the toolkit means adding one
recipe class here; tasks whose code is missing from this installation
report it through :meth:`TaskRecipe.unavailable`.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import (BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt,
                      PrivateAttr, model_validator)

from . import limits


class TaskRecipe(BaseModel):
    """Base class of the ``[task]`` recipes (one subclass per ``type``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    #: ``type`` value that selects the recipe in a spec.
    type_name: ClassVar[str]
    #: The task family, the ``task`` column of the tidy table.
    family: ClassVar[str] = "quadratic"

    def unavailable(self) -> str | None:
        """Why this task cannot be built in this installation (None when it can)."""
        return None

    def identity(self) -> dict:
        """Everything that determines the task, as JSON-ready data (hashed into point keys)."""
        return self.model_dump(mode="json")

    def build(self):
        """The task object (QuadraticTarget, GaussianMixture, ...)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short label such as ``paper(d=450, seed=100)`` for tables."""
        fields = {k: v for k, v in self.identity().items() if k != "type"}
        return f"{self.type_name}(" + ", ".join(f"{k}={v}" for k, v in fields.items()) + ")"


class PaperTarget(TaskRecipe):
    """The authors' quadratic target: B = diag(γ)/√d, γ_j ~ Exp(1) drawn with numpy seed ``seed``."""

    type_name: ClassVar[str] = "paper"
    type: Literal["paper"] = "paper"
    d: PositiveInt = 450
    seed: NonNegativeInt = 100

    def build(self):
        from ..tasks import QuadraticTarget

        return QuadraticTarget.paper(d=self.d, seed=self.seed)


class NpyTarget(TaskRecipe):
    """A quadratic target whose matrix B is read from a ``.npy`` file.

    Relative paths in a TOML spec are relative to the TOML file. The point
    hash uses the array's content (SHA-256), so moving the file keeps results;
    when ``sha256`` is given (points carry it), a file whose content changed
    is refused. Workers on other machines must be able to read the same path.
    """

    type_name: ClassVar[str] = "npy"
    type: Literal["npy"] = "npy"
    path: str
    offset: float | None = Field(None, description="b0; None centres the target (b0 = -Tr B)")
    sha256: str | None = None
    _array: np.ndarray | None = PrivateAttr(None)
    _digest: str | None = PrivateAttr(None)

    def array(self) -> np.ndarray:
        """B as read from the file (cached), checked against ``sha256`` when given."""
        if self._array is not None:
            return self._array
        path = Path(self.path)
        shape, dtype = self.header()
        if len(shape) != 2 or shape[0] != shape[1] or not np.issubdtype(dtype, np.number):
            raise ValueError(f"task.path: {str(path)!r} must hold a square numeric matrix B, "
                             f"got dtype {dtype} and shape {shape}")
        # refused from the header, before the file is read: the matrix and the task built on it
        limits.check_task(shape[0], "task.path")
        try:
            B = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"task.path: {str(path)!r} is not a readable .npy array ({exc})") from None
        B = np.ascontiguousarray(B, dtype=np.float64)
        digest = hashlib.sha256(repr(B.shape).encode() + B.tobytes()).hexdigest()
        if self.sha256 is not None and digest != self.sha256:
            raise ValueError(f"task.path: the content of {str(path)!r} changed since the spec was "
                             f"expanded (sha256 {digest[:12]}..., expected {self.sha256[:12]}...)")
        self._array, self._digest = B, digest
        return B

    def header(self) -> tuple:
        """(shape, dtype) from the file's .npy header, without reading the array; a ValueError
        that says what the path is when it is not a .npy file."""
        path = Path(self.path)
        if not path.exists():
            raise ValueError(f"task.path: no such file {str(path)!r}")
        if path.is_dir():
            raise ValueError(f"task.path: {str(path)!r} is a directory, not a .npy file")
        if not path.is_file():
            raise ValueError(f"task.path: {str(path)!r} is not a regular file (a device, FIFO or "
                             "socket); give a .npy file written by numpy.save")
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(fh)
                start = fh.tell()
        except (ValueError, OSError, SyntaxError) as exc:
            raise ValueError(f"task.path: {str(path)!r} is not a .npy file written by numpy.save (a "
                             f"text file? its header cannot be read: {exc})") from None
        if dtype.hasobject:
            raise ValueError(f"task.path: {str(path)!r} holds Python objects (dtype {dtype}), not "
                             "numbers")
        expected = start + int(np.prod(shape, dtype=object)) * dtype.itemsize
        if path.stat().st_size < expected:
            raise ValueError(f"task.path: {str(path)!r} is truncated: its header promises shape "
                             f"{shape} of {dtype} ({expected} bytes), the file has "
                             f"{path.stat().st_size}")
        return tuple(int(n) for n in shape), dtype

    def pinned(self) -> "NpyTarget":
        """This recipe with ``sha256`` filled in from the file's current content."""
        self.array()
        return self.model_copy(update={"sha256": self._digest})

    def identity(self) -> dict:
        B = self.array()
        return {"type": "npy", "sha256": self._digest, "d": int(B.shape[0]), "offset": self.offset}

    @property
    def d(self) -> int:
        """The dimension, read from the file."""
        return int(self.array().shape[0])

    def describe(self) -> str:
        return f"npy({Path(self.path).name}, d={self.d})"

    def build(self):
        from ..tasks import QuadraticTarget

        return QuadraticTarget(self.array(), offset=self.offset)


class SpectrumTarget(TaskRecipe):
    """A centred quadratic target B = Q diag(λ) Qᵀ / √d with a chosen spectrum.

    ``spectrum`` (λ drawn with ``numpy.random.default_rng(seed)``):

    * ``exponential``: λ_j ~ Exp(1) (the paper's law, another generator);
    * ``uniform``: λ_j ~ U(0, 2) (mean 1, flatter: larger τ);
    * ``power-law``: λ_j = j^(-exponent), j = 1..d;
    * ``low-rank``: ``rank`` eigenvalues ~ Exp(1), the others 0;
    * ``traceless``: λ_j = γ_j - mean(γ), γ_j ~ Exp(1), so Tr B = 0 (τ = 0: no
      radial part, the setting of the Mei-Montanari ridge-RF formula).

    ``rotate = true`` takes Q Haar-random (same seed), else Q = I (diagonal B).
    """

    type_name: ClassVar[str] = "spectrum"
    type: Literal["spectrum"] = "spectrum"
    spectrum: Literal["exponential", "uniform", "power-law", "low-rank", "traceless"]
    d: PositiveInt
    seed: NonNegativeInt = 0
    exponent: PositiveFloat = 1.0
    rank: PositiveInt | None = None
    rotate: bool = False

    @model_validator(mode="after")
    def _rank_fits(self):
        if self.spectrum == "low-rank":
            if self.rank is None:
                raise ValueError("rank is required when spectrum = 'low-rank' "
                                 "(the number of non-zero eigenvalues, 1 <= rank <= d)")
            if self.rank > self.d:
                raise ValueError(f"rank must be <= d = {self.d}, got {self.rank}")
        return self

    def identity(self) -> dict:
        out = {"type": "spectrum", "spectrum": self.spectrum, "d": self.d, "seed": self.seed,
               "rotate": self.rotate}
        if self.spectrum == "power-law":
            out["exponent"] = self.exponent
        if self.spectrum == "low-rank":
            out["rank"] = self.rank
        return out

    def describe(self) -> str:
        extra = {"power-law": f", exponent={self.exponent}", "low-rank": f", rank={self.rank}"}
        rotated = ", rotated" if self.rotate else ""
        return (f"{self.spectrum} spectrum(d={self.d}, seed={self.seed}"
                f"{extra.get(self.spectrum, '')}{rotated})")

    def eigenvalues(self) -> np.ndarray:
        """λ (before the 1/√d scaling), in the order they sit on the diagonal."""
        rng = np.random.default_rng(self.seed)
        if self.spectrum == "exponential":
            return rng.exponential(1.0, self.d)
        if self.spectrum == "traceless":
            gamma = rng.exponential(1.0, self.d)
            return gamma - gamma.mean()
        if self.spectrum == "uniform":
            return rng.uniform(0.0, 2.0, self.d)
        if self.spectrum == "power-law":
            return np.arange(1, self.d + 1, dtype=float) ** (-self.exponent)
        lam = np.zeros(self.d)
        lam[: self.rank] = rng.exponential(1.0, self.rank)
        return lam

    def build(self):
        from ..tasks import QuadraticTarget

        lam = self.eigenvalues() / np.sqrt(self.d)
        if not self.rotate:
            return QuadraticTarget(np.diag(lam))
        from scipy.stats import ortho_group

        Q = ortho_group.rvs(self.d, random_state=np.random.default_rng([self.seed, 1]))
        return QuadraticTarget((Q * lam) @ Q.T)


class MixtureTask(TaskRecipe):
    """Two centred Gaussians x | y ~ N(0, I ± Δ): ``GaussianMixture.paper(d, seed, frob2)``."""

    type_name: ClassVar[str] = "mixture"
    family: ClassVar[str] = "mixture"
    type: Literal["mixture"] = "mixture"
    d: PositiveInt = 450
    seed: NonNegativeInt = 0
    frob2: PositiveFloat | None = None  #: default: GaussianMixture.default_frob2(d), 4 at d >= 450

    def identity(self) -> dict:
        from ..tasks import GaussianMixture

        frob2 = GaussianMixture.default_frob2(self.d) if self.frob2 is None else self.frob2
        return {**self.model_dump(mode="json"), "frob2": frob2}  # (the same key either way)

    def unavailable(self) -> str | None:
        from .. import tasks

        if not hasattr(tasks, "GaussianMixture"):
            return "the GaussianMixture task is not part of this installation of lazytrain"
        return None

    def build(self):
        from ..tasks import GaussianMixture

        return GaussianMixture.paper(d=self.d, seed=self.seed, frob2=self.frob2)


class HermiteRecipe(TaskRecipe):
    """A Hermite ridge target (``HermiteTarget``) with directions drawn from ``seed``.

    ``coefficients`` has one row per direction and one column per degree
    ℓ = 1..L (L ≤ 6): f*(x) = Σ_j Σ_ℓ coefficients[j][ℓ−1] He_ℓ(⟨u_j, x⟩).
    The directions are the first k rows of a Haar-random orthogonal matrix
    (``orthogonal = true``, the default) or k independent uniform unit
    vectors, drawn with ``numpy.random.default_rng([seed, 2])``. The identity
    is the recipe itself (d, seed, coefficients, orthogonal).
    """

    type_name: ClassVar[str] = "hermite"
    family: ClassVar[str] = "hermite"
    type: Literal["hermite"] = "hermite"
    d: PositiveInt = 40
    seed: NonNegativeInt = 0
    coefficients: list[list[float]] = Field(min_length=1)
    orthogonal: bool = True

    @model_validator(mode="after")
    def _check(self):
        k = len(self.coefficients)
        widths = {len(row) for row in self.coefficients}
        if len(widths) != 1:
            raise ValueError(f"task.coefficients: every row needs the same number of degrees, got row "
                             f"lengths {sorted(widths)}")
        if self.orthogonal and k > self.d:
            raise ValueError(f"task.coefficients: {k} orthogonal directions do not fit in d = {self.d}")
        return self

    def directions(self) -> np.ndarray:
        """The (k, d) unit directions u_j."""
        rng = np.random.default_rng([self.seed, 2])
        k = len(self.coefficients)
        if self.orthogonal:
            Q, R = np.linalg.qr(rng.standard_normal((self.d, k)))
            return (Q * np.sign(np.diag(R))).T
        U = rng.standard_normal((k, self.d))
        return U / np.linalg.norm(U, axis=1, keepdims=True)

    def build(self):
        from ..tasks import HermiteTarget

        return HermiteTarget(self.directions(), np.array(self.coefficients, dtype=np.float64))

    def describe(self) -> str:
        k, L = len(self.coefficients), len(self.coefficients[0])
        return f"hermite(d={self.d}, k={k}, degree={L}, seed={self.seed})"


class SpikedRecipe(TaskRecipe):
    """Spiked covariates (``SpikedCovariates``): a signal block of d_s coordinates with variance d^κ.

    d_s is ``signal_dim``, or ⌊d^η⌋ (``eta``, default 2/5 as in arXiv:2006.13409)
    when it is not given. The target, a function of the standardised signal
    coordinates: ``target = "paper"`` the authors' quadratic target
    ``QuadraticTarget.paper(d_s, seed)`` (B = diag(γ)/√d_s, γ ~ Exp(1));
    ``target = "hermite"`` a Hermite ridge target with ``coefficients`` (one row
    per direction, as the ``hermite`` recipe) on orthonormal directions of the
    signal block drawn with ``numpy.random.default_rng([seed, 2])``.
    """

    type_name: ClassVar[str] = "spiked"
    family: ClassVar[str] = "spiked"
    type: Literal["spiked"] = "spiked"
    d: PositiveInt = 400
    kappa: float = Field(ge=0.0, le=4.0)
    eta: float = Field(0.4, gt=0.0, le=1.0)
    signal_dim: PositiveInt | None = None
    target: Literal["paper", "hermite"] = "paper"
    seed: NonNegativeInt = 100
    coefficients: list[list[float]] | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.dimension() > self.d:
            raise ValueError(f"task.signal_dim must be <= d = {self.d}, got {self.dimension()}")
        if (self.target == "hermite") != (self.coefficients is not None):
            raise ValueError("task.coefficients: required with target = 'hermite' and only with it "
                             f"(got target = {self.target!r})")
        if self.coefficients is not None:
            widths = {len(row) for row in self.coefficients}
            if not self.coefficients or len(widths) != 1:
                raise ValueError(f"task.coefficients: a non-empty list of rows of equal length, got row "
                                 f"lengths {sorted(widths)}")
            if len(self.coefficients) > self.dimension():
                raise ValueError(f"task.coefficients: {len(self.coefficients)} orthogonal directions do not "
                                 f"fit in the signal block of dimension {self.dimension()}")
        return self

    def dimension(self) -> int:
        """d_s: ``signal_dim``, or ⌊d^η⌋ (at least 1)."""
        if self.signal_dim is not None:
            return self.signal_dim
        return max(1, int(math.floor(self.d**self.eta + 1e-9)))

    def identity(self) -> dict:
        out = {"type": "spiked", "d": self.d, "signal_dim": self.dimension(), "kappa": self.kappa,
               "target": self.target, "seed": self.seed}
        if self.coefficients is not None:
            out["coefficients"] = self.coefficients
        return out

    def describe(self) -> str:
        return (f"spiked(d={self.d}, d_s={self.dimension()}, kappa={self.kappa:g}, "
                f"target={self.target}, seed={self.seed})")

    def build(self):
        from ..tasks import HermiteTarget, QuadraticTarget, SpikedCovariates

        s = self.dimension()
        if self.target == "paper":
            target = QuadraticTarget.paper(d=s, seed=self.seed)
        else:
            rng = np.random.default_rng([self.seed, 2])
            Q, R = np.linalg.qr(rng.standard_normal((s, len(self.coefficients))))
            target = HermiteTarget((Q * np.sign(np.diag(R))).T, np.array(self.coefficients, dtype=np.float64))
        return SpikedCovariates(self.d, s, self.kappa, target)


#: ``type`` -> recipe class. Register a new task by adding its recipe here.
TASK_TYPES: dict[str, type[TaskRecipe]] = {
    cls.type_name: cls for cls in (PaperTarget, NpyTarget, SpectrumTarget, MixtureTask, HermiteRecipe,
                                    SpikedRecipe)
}


def canonical_json(data) -> str:
    """Deterministic JSON (sorted keys, no spaces): the input of every hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


@lru_cache(maxsize=8)
def build_task(task_json: str):
    """Build (and cache, per process) the task described by a recipe's JSON dump."""
    data = json.loads(task_json)
    recipe = TASK_TYPES[data["type"]].model_validate(data)
    return recipe.build()
