r"""The contract every learning task meets (the seam between tasks and solvers).

A task is the law of (x, y). The solvers above it (``exact``, ``theory``,
``train``, ``experiments``) ask a task only for what :class:`Task` declares,
so a new target is one new file in this package (docs/architecture.md,
"How to add a task"). Closed forms for particular activations are fast
paths kept next to the solvers (``lazytrain.exact.CLOSED_FORMS``,
``lazytrain.theory.FORMULAS``), each tested equal to the general path.

What a task provides
--------------------
``d``, ``r0``, ``kind``
    Input dimension, the risk of the best constant predictor (R0 = Var y;
    every risk is reported as R/R0) and the family name (table column).
``sample(n, rng)`` / ``sample_torch(n, generator, device, dtype)``
    Draws of (x, y). Both come from ONE definition, :meth:`Task._draw`,
    written once against the small array namespace :class:`ArrayOps`
    (numpy or torch), so the two samplers cannot drift apart.
``y_mean`` (default 0)
    E y, for the risk of a predictor with a fitted offset (``lazytrain.fit``).
``components``
    The input law as a mixture of centred Gaussians, a tuple of
    :class:`Component` (one ``Component(1.0)`` = N(0, I) for regression
    targets).
``cross_moments(W, activation)``
    What the exact RF/NT solver needs besides the input law: the RF cross
    moments Cov(y, σ(u_i)), shape (N,), and the NT ones Cov(y, x σ'(u_i)),
    shape (N, d), with u_i = ⟨w_i, x⟩.
``nn_risk(n_neurons)`` (optional)
    The global optimum R/R0 over quadratic-activation networks with N
    neurons; None when the task has none.
``predictor_risk(M, c)`` (optional)
    Exact R/R0 of the quadratic predictor c + xᵀMx (quadratic-activation
    SGD uses it for its risk; without it SGD measures the risk by Monte
    Carlo). ``predictor_risk_grad`` in addition gives the population flow.
``quadratic_form_columns(M, c)`` (optional)
    Extra table columns for a quadratic-form predictor (the mixture's 0-1
    error); ``{}`` by default.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .._validation import as_generator, check_neuron_variances, check_positive_int


@dataclass(frozen=True)
class Component:
    """One centred Gaussian input law N(0, Σ) with mixing weight p.

    ``cov`` is None (Σ = I), a (d, d) matrix, or a 1-D array of d variances (a
    diagonal Σ: every product with Σ then costs O(d) per row instead of O(d²)).
    """

    weight: float
    cov: np.ndarray | None = None

    @property
    def is_diagonal(self) -> bool:
        return self.cov is not None and np.ndim(self.cov) == 1

    def apply(self, X: np.ndarray) -> np.ndarray:
        """X Σ for the rows of X (Σ symmetric)."""
        if self.cov is None:
            return X
        return X * self.cov if self.is_diagonal else X @ self.cov

    def pre_activation_cov(self, W: np.ndarray) -> np.ndarray:
        """Covariance W Σ Wᵀ of u = W x."""
        return self.apply(W) @ W.T

    def push(self, W: np.ndarray) -> np.ndarray:
        """Rows ŵ_i = Σ w_i (shape (N, d))."""
        return self.apply(W)

    def cov_trace(self, d: int) -> float:
        """Tr Σ."""
        if self.cov is None:
            return float(d)
        return float(np.sum(self.cov)) if self.is_diagonal else float(np.trace(self.cov))

    def cov_frobenius(self, d: int) -> float:
        """‖Σ‖_F."""
        return math.sqrt(d) if self.cov is None else float(np.linalg.norm(self.cov))

    def cov_matrix(self, d: int) -> np.ndarray:
        """Σ as a (d, d) array."""
        if self.cov is None:
            return np.eye(d)
        return np.diag(self.cov) if self.is_diagonal else self.cov

    def feature_means(self, W: np.ndarray, activation):
        """E σ(u_i) (N,) and E[x σ'(u_i)] = E[σ''(u_i)] Σw_i (N, d) under this component (Stein)."""
        What = self.push(W)
        mom = activation.moments(check_neuron_variances(np.einsum("ij,ij->i", What, W)))
        return mom.mean, mom.d2_mean[:, None] * What

    def feature_mean_errors(self, W: np.ndarray, activation):
        """Error estimates of :meth:`feature_means` (from the activation's moment estimates)."""
        What = self.push(W)
        _, err = activation.moments(check_neuron_variances(np.einsum("ij,ij->i", What, W)), return_error=True)
        return err.mean, err.d2_mean[:, None] * np.abs(What)


#: The standard Gaussian input law N(0, I_d).
STANDARD = (Component(1.0),)


# ---------------------------------------------------------------- one sampler, two array libraries
class ArrayOps:
    """The few array operations a task's sampler uses, for numpy (this class) or torch.

    A task writes :meth:`Task._draw` once with these; :meth:`Task.sample`
    runs it on numpy with a ``numpy.random.Generator`` and
    :meth:`Task.sample_torch` on torch with a ``torch.Generator``.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def normal(self, n: int, d: int):
        """An (n, d) array of independent N(0, 1) draws."""
        return self.rng.standard_normal((n, d))

    def sign(self, n: int):
        """n independent ±1 (float) with probability ½ each."""
        return np.where(self.rng.random(n) < 0.5, -1.0, 1.0)

    def const(self, key, make):
        """A float64 constant of the task (``make()`` returns a numpy array); cached on torch."""
        return make()

    @staticmethod
    def rowdot(a, b):
        """Row-wise inner products Σ_k a_nk b_nk."""
        return np.einsum("ni,ni->n", a, b)

    @staticmethod
    def where(cond, a, b):
        return np.where(cond, a, b)


class TorchOps(ArrayOps):
    """:class:`ArrayOps` on torch tensors (``device``, ``dtype``), constants cached per task."""

    def __init__(self, generator, device, dtype, cache: dict):
        import torch  # lazy: the numpy layers of lazytrain do not need torch

        self.torch = torch
        self.generator = generator
        self.device = device
        self.dtype = dtype
        self.cache = cache

    def normal(self, n, d):
        return self.torch.randn((n, d), generator=self.generator, device=self.device, dtype=self.dtype)

    def sign(self, n):
        t = self.torch.randint(0, 2, (n,), generator=self.generator, device=self.device)
        return t.to(self.dtype) * 2 - 1

    def const(self, key, make):
        full = (str(self.torch.device(self.device)), self.dtype, key)
        if full not in self.cache:
            self.cache[full] = self.torch.as_tensor(make(), dtype=self.dtype, device=self.device)
        return self.cache[full]

    @staticmethod
    def rowdot(a, b):
        return (a * b).sum(dim=1)

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)


# ---------------------------------------------------------------- the contract
class Task(ABC):
    """Abstract base of every lazytrain task; see the module docstring for the contract.

    Subclasses set ``kind`` and ``d`` and implement :attr:`r0`,
    :meth:`_draw` and :meth:`cross_moments`; the other methods have
    defaults meaning "not available".
    """

    #: Family name (the ``task`` column of result tables).
    kind: str = "task"
    #: Input dimension.
    d: int

    # ------------------------------------------------------------ law of (x, y)
    @property
    @abstractmethod
    def r0(self) -> float:
        """Risk of the best constant predictor, R0 = Var y."""

    @property
    def y_mean(self) -> float:
        """E y; default 0 (a centred target). Override when E y ≠ 0: the population risk of a
        predictor with its own offset (``lazytrain.fit``) needs it."""
        return 0.0

    @property
    def components(self) -> tuple:
        """The input law Σ_k p_k N(0, Σ_k) as a tuple of :class:`Component`; default N(0, I_d)."""
        return STANDARD

    @abstractmethod
    def _draw(self, ops: ArrayOps, n: int):
        """n pairs (x, y), written once against ``ops`` (numpy or torch)."""

    def sample(self, n, rng=None):
        """Draw n i.i.d. pairs (x, y).

        Parameters
        ----------
        n : int
            Number of samples.
        rng : numpy.random.Generator or int, optional
            Source of randomness (default: seed 0).

        Returns
        -------
        x : ndarray of shape (n, d)
        y : ndarray of shape (n,)
        """
        n = check_positive_int("n", n)
        rng = as_generator(0 if rng is None else rng, "rng")
        return self._draw(ArrayOps(rng), n)

    def sample_torch(self, n, generator=None, device="cpu", dtype=None):
        """Draw n pairs (x, y) as torch tensors, for the training loop.

        Same law and same definition as :meth:`sample`; randomness comes from
        the torch ``generator`` (which must live on ``device``).

        Parameters
        ----------
        n : int
        generator : torch.Generator, optional
        device : str or torch.device, default 'cpu'
        dtype : torch.dtype, default torch.float32

        Returns
        -------
        x : Tensor of shape (n, d)
        y : Tensor of shape (n,)
        """
        import torch

        n = check_positive_int("n", n)
        dtype = torch.float32 if dtype is None else dtype
        cache = self.__dict__.setdefault("_torch_cache", {})
        return self._draw(TorchOps(generator, device, dtype, cache), n)

    # ------------------------------------------------------------ what the exact solvers need
    @abstractmethod
    def cross_moments(self, W: np.ndarray, activation):
        """Cov(y, σ(u_i)) (shape (N,)) and Cov(y, x σ'(u_i)) (shape (N, d)), u_i = ⟨w_i, x⟩.

        Parameters
        ----------
        W : ndarray of shape (N, d)
            First-layer weights (rows nonzero).
        activation : Activation

        Returns
        -------
        rf : ndarray of shape (N,)
        nt : ndarray of shape (N, d)
        """

    def cross_moment_errors(self, W: np.ndarray, activation):
        """Error estimates of :meth:`cross_moments` (same shapes), or None when the task has none.

        The exact solver propagates them, with the moments' own, to a bound on
        the risk (``MomentAccuracyError`` when it exceeds the tolerance); None
        means that only the Gram's errors are counted.
        """
        return None

    def nn_risk(self, n_neurons: int):
        """Global optimum R/R0 over quadratic-activation networks with N neurons, or None."""
        return None

    def quadratic_form_columns(self, M, c) -> dict:
        """Extra result columns for the quadratic predictor c + xᵀMx (default: none)."""
        return {}
