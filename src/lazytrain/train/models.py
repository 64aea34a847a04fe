"""Two-layer networks in the paper's mean-field parametrisation, stacked: one model per regime.

K networks of widths N_1..N_K are stored row-wise in one set of tensors so
that a single matrix product serves all of them: the widths of a sweep are
trained side by side on one sample stream (docs/reproduction.md, "mean-field
parameterization" of the authors' scripts, with α = β = η = 1). The regime
(:mod:`lazytrain.regimes`) says what each model computes:

* :class:`RFModel` (``RF``): f(x) = c + (1/N) Σ_i a_i σ(⟨w_i, x⟩), W fixed; a_i (start a0_i)
  and c trained.
* :class:`NNModel` (``NN``): the same with W trained. With ``NN(shared_a=True)`` (the authors'
  default) a_i = a is one scalar that starts at 0; otherwise a_i starts at a0_i.
* :class:`NTModel` (``NT``): f(x) = c + (1/N) Σ_i [a0_i σ'(⟨w_i, x⟩) ⟨g_i, x⟩ + a_i σ(⟨w_i, x⟩)],
  W and a0 fixed, g_i (start 0) trained; the second-layer term a_i σ (start a_i = a0_i) is
  present only for the variant ``NT(second_layer=True)``.
* :class:`LazyNNModel` (``LazyNN``, the lazy scaling of Chizat, Oyallon & Bach, arXiv
  1812.07956): f(x) = c + α·(h(x; θ) − h(x; θ₀)) with h = (1/N) Σ_i a_i σ(⟨w_i, x⟩),
  θ = (W, a) per neuron, a starting at a0_i; θ is trained on the loss divided by α², c on the
  plain loss (docs/theory.md, "The laziness dial"). W is stored as W0 + D and a as a0 + b, so
  that the small moves D, b (of order 1/α) keep their precision in float32; one product
  x·[W0; D]ᵀ gives both projections.

a0_i = ±1 (random signs). The authors draw a0_i ~ N(0, 1); the NT class is
the same either way, but the tangent direction of neuron i then learns at a
rate ∝ a0_i², so the neurons with small |a0_i| lag far behind (measured at
d = 20, N = 14: 0.236 against the exact 0.164 after 6000 steps with N(0, 1)
draws, within 0.001 with signs).

Each model has a ``forward`` (outputs and what the backward needs) and a ``backward`` that
returns, per trained parameter, a :class:`Move`: its gradient times the step multiplier, with
the multiplier folded into the small per-neuron vectors. The step multipliers (the authors'
``N·η/α²`` and ``η_c/β²``): rows of W and G and per-neuron a_i move with lr·N, a shared a with
lr, the offset c with lr·η_c. :meth:`StackedModel.step` applies the moves with the step
multipliers (:attr:`StackedModel.rates`), :meth:`StackedModel.gradients` evaluates the same
moves with unit multipliers (:attr:`StackedModel.unit`): one backward path for both, by
construction. Each network's gradient is that of its own batch loss mean_b (y_b - f(x_b))²
(no ½), checked against torch autograd in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from ..regimes import NN, NT, RF, LazyNN, Regime, get_regime


class Move(NamedTuple):
    """One trained parameter's move: ``rate``·∂L/∂θ, kept as factors so that the step fuses it.

    ``kind`` 'outer': θ (n, d), stored transposed, moves by valueᵀ·x (value: the (B, n) backward
    array, the rate already folded in; ``rate`` unused). 'scaled': θ moves by value ⊙ rate.
    """

    kind: str
    value: torch.Tensor
    rate: torch.Tensor | None = None

    def gradient(self, x):
        """The move as a tensor of the parameter's shape."""
        return self.value.t() @ x if self.kind == "outer" else self.value * self.rate


@dataclass(frozen=True)
class Rates:
    """The multipliers a backward pass folds in: the step's (lr·N, …) or the unit ones (gradients).

    Every field is the product of a parameter's step multiplier and the mean-field 1/N its
    gradient carries, precomputed per row (n,) or per network (K,), so that the step multiplies
    by them exactly as the gradient does by the unit ones (multiplying by 1 is exact).
    """

    c: torch.Tensor          # (K,) the offset: lr·η_c, or 1
    row: torch.Tensor        # (n,) per-neuron a_i from N·∂L/∂a_i: lr, or 1/N
    row_w: torch.Tensor      # (n,) rows of W / G from their (1/N-weighted) backward: lr·N, or 1
    net_w: torch.Tensor      # (K,) rows of W with a shared a (a·this): lr, or 1/N
    shared: torch.Tensor     # (K,) a shared a from Σ_i: lr/N, or 1/N
    lazy: torch.Tensor | None = None   # (n,) lazy θ = (D, b): lr/α, or 1/(N·α)
    pre: list | None = None  # NT: the preconditioners P_k applied to the step of G (step only)


class StackedModel:
    """K two-layer networks of one regime, trained together (the common stacking machinery).

    Parameters
    ----------
    regime : Regime
        The regime object (:func:`lazytrain.regimes.get_regime`); its variant fields
        (``second_layer``, ``shared_a``) set the model's.
    activation : Activation
        Only ``activation.fn`` and ``activation.derivative`` are called in
        training; ``activation.poly`` turns the model into c + xᵀMx when
        ``activation.is_even_quadratic``.
    weights : list of ndarray
        Initial first-layer weights, one (N_k, d) array per network.
    a0 : list of ndarray
        Per-neuron coefficients (initial a_i for rf / per-neuron nn; the
        tangent coefficients a0_i for nt), one (N_k,) array per network.
    lrs : sequence of float
        Base step size of each network.
    offset_mult : float
        η_c: the offset c moves with step size lr·η_c (the authors' script
        exposes η_c, default 1).
    device, dtype
        Where and in which precision the parameters live.
    matmul_dtype : torch.dtype, optional
        Mixed precision (``torch.bfloat16``): :meth:`step` runs its two matrix products, the
        forward x·W and the weight update xᵀ·dH, in this precision, on a copy of the product
        buffer (:attr:`low`) that each step refreshes from the ``dtype`` master weights; the
        update is added to the masters in ``dtype``. Everything else (the elementwise work, the
        segment sums, the preconditioner, the loss sums, :meth:`predict`, :meth:`gradients`)
        stays in ``dtype``. None: every product in ``dtype``.
    """

    #: Matrix products of B·d·ΣN flops per step (for the thread choice of the training loop).
    products = 2
    #: One second-layer scalar per network (NN's default variant) rather than one per neuron.
    shared_a = False
    #: The attribute holding the (d, ·) buffer of the forward product x·buffer.
    buffer_name = "Wt"

    def __init__(self, regime: Regime, activation, weights, a0, lrs, *, offset_mult=1.0,
                 device="cpu", dtype=torch.float32, matmul_dtype=None):
        self.regime = regime
        self.act = activation
        self.widths = [int(w.shape[0]) for w in weights]
        self.K = len(self.widths)
        self.n = sum(self.widths)
        self.d = int(weights[0].shape[1])
        self.device, self.dtype = torch.device(device), dtype
        # σ(u) = p2 u² + p0: σ'(u) = 2 p2 u, so the backward pass multiplies by H itself and folds
        # 2 p2 into the per-neuron coefficients (one B×N array and one pass fewer per step)
        self.linear_derivative = 2.0 * activation.poly[2] if activation.is_even_quadratic else None
        opts = self.opts = dict(device=self.device, dtype=dtype)
        widths = torch.tensor(self.widths, device=self.device)
        self.seg = torch.repeat_interleave(torch.arange(self.K, device=self.device), widths)
        self.inv_widths = 1.0 / widths.to(dtype)                              # 1/N_k (K,)
        self.inv_n = self.inv_widths[self.seg]                                # 1/N_k per row
        self.lr = torch.as_tensor(np.asarray(lrs, dtype=np.float64), **opts)  # (K,)
        self.lr_row = self.lr[self.seg]
        # one-hot (K, n) for the segment sums Σ_{i in network k}
        self.onehot_t = torch.zeros((self.K, self.n), **opts)
        self.onehot_t[self.seg, torch.arange(self.n, device=self.device)] = 1.0
        self.onehot = self.onehot_t.t()
        self.rates = Rates(c=self.lr * float(offset_mult), row=self.lr_row,
                           row_w=self.lr_row / self.inv_n,                    # lr·N_k per row
                           net_w=self.lr, shared=self.lr * self.inv_widths)   # lr_k/N_k: a shared a
        ones_k, ones_n = torch.ones(self.K, **opts), torch.ones(self.n, **opts)
        self.unit = Rates(c=ones_k, row=self.inv_n, row_w=ones_n, net_w=self.inv_widths,
                          shared=self.inv_widths)
        W = torch.as_tensor(np.concatenate(weights), **opts)
        self.c = torch.zeros(self.K, **opts)
        # ‖W0‖_F of each network, for the relative weight movement
        self.w0_norm = torch.as_tensor([float(np.linalg.norm(w)) for w in weights],
                                       dtype=torch.float64, device=self.device)
        # Storage: the first-layer weights live transposed, as (d, n) buffers, and W, G, D are
        # (n, d) views of them. The forward product x·Wᵀ is then x @ Wt and the update
        # Wt += xᵀ·dH, the layout in which both products run fastest at these shapes: the
        # update W += dHᵀ·x into an (n, d) buffer ran at 55 % of the matmul peak for n = 3600,
        # d = 450, B = 100, against 90 % transposed (benchmarks/bench_sgd.py, docs/performance.md).
        self._store(W, W.t().contiguous(), torch.as_tensor(np.concatenate(a0), **opts))
        self.loss_sum = torch.zeros(self.K, **opts)  # Σ (y - f)² since the last reset
        # Mixed precision: a low-precision copy of the buffer of the forward product, and views
        # of it on the trained parts (the same columns as in ``transposed``)
        self.matmul_dtype = None if matmul_dtype in (None, dtype) else matmul_dtype
        self.low, self.low_views = None, {}
        if self.matmul_dtype is not None:
            buf = self.product_buffer
            self.low = buf.to(self.matmul_dtype)
            for name, t in self.transposed.items():
                lo = t.storage_offset() - buf.storage_offset()      # column offset in the buffer
                self.low_views[name] = self.low[:, lo: lo + t.shape[1]]

    # ------------------------------------------------------------ what each regime's model defines
    def _store(self, W, Wt, a0):
        """Create the parameters from the initial W (n, d), its transpose Wt (d, n) and a0 (n,)."""
        raise NotImplementedError

    def forward(self, x):
        """Outputs f (B, K) and what the backward pass needs."""
        raise NotImplementedError

    def backward(self, x, dF, cache, rates: Rates) -> dict:
        """{name: Move} of every trained parameter, from dF = ∂L/∂f (B, K) and the multipliers."""
        raise NotImplementedError

    def parameters(self) -> dict:
        """The trained tensors by name (views, not copies)."""
        raise NotImplementedError

    def network_params(self, k: int) -> dict:
        """Network k's parameters as float64 tensors (the regime's ``quadratic_form`` reads them)."""
        raise NotImplementedError

    def moved_weights(self):
        """W − W0 as an (n, d) tensor, or None where W is fixed."""
        return None

    # ---------------------------------------------------------------- helpers
    @property
    def product_buffer(self) -> torch.Tensor:
        """The (d, ·) buffer of the forward product (W transposed, with G or D beside it)."""
        return getattr(self, self.buffer_name)

    def _project(self, x):
        """x·(product buffer): the (B, ·) projections, in ``dtype``.

        An x in the matmul precision (what :meth:`step` passes with ``matmul_dtype``) is
        multiplied by the low-precision copy, and the result brought back to ``dtype``.
        """
        if x.dtype == self.dtype:
            return x @ self.product_buffer
        return (x @ self.low).to(self.dtype)

    def refresh(self) -> None:
        """Copy the master weights into the low-precision copy (after writing the parameters)."""
        if self.low is not None:
            self.low.copy_(self.product_buffer)

    # Per-neuron weights v (n,) act through the block matrix diag(v)·onehot (n, K): the output sum
    # Σ_{i in network k} v_i S_bi, the spread of per-network residuals back to the neurons and the
    # per-neuron sums over the batch are then three small matrix products instead of elementwise
    # passes over (B, n) arrays. The blocks are kept as (K, n) rows: (blocks)ᵀ·Sᵀ ran 1.5-2× faster
    # than S·blocks for K = 15, n = 3600 (docs/performance.md). With a shared second-layer scalar
    # (the mean-field default) v is constant on each network and no block matrix is built.
    def _bounds(self, k):
        lo = sum(self.widths[:k])
        return lo, lo + self.widths[k]

    def _blocks_t(self, v):
        """(K, n): row k holds v_i on the neurons of network k; the plain one-hot for v = None."""
        return self.onehot_t if v is None else self.onehot_t * v

    def _seg_sum(self, S, v=None):
        """Σ_{i in network k} v_i S[b, i] for every b, k: shape (B, K)."""
        if self.K == 1:
            return (S.sum(dim=1) if v is None else S @ v)[:, None]
        return (self._blocks_t(v) @ S.t()).t()

    def _spread(self, dF, v=None):
        """dF[b, k(i)] v_i for every b, i: shape (B, n)."""
        return dF @ self._blocks_t(v)

    def _own(self, dF, S):
        """Σ_b dF[b, k(i)] S[b, i] for every neuron i: shape (n,)."""
        return (dF.t() @ S).gather(0, self.seg[None, :])[0]

    def _backward_to_h(self, dF, v, H):
        """∂/∂H_bi of Σ_k dF_bk Σ_{i in k} v_i σ(H_bi), i.e. spread(dF, v) ⊙ σ'(H): shape (B, n).

        ``v`` is per neuron (n,), or per network (K,) when it is constant on each network (it
        then scales dF and no block matrix is built).
        """
        if self.linear_derivative is not None:
            v = v * self.linear_derivative
        dsigma = H if self.linear_derivative is not None else self.act.derivative(H)
        if v.shape[0] != self.K:
            return self._spread(dF, v).mul_(dsigma)
        if self.K == 1:                                      # one network: a broadcast, no product
            return dsigma * (dF * v)
        return self._spread(dF * v).mul_(dsigma)

    def _offset_move(self, dF, rates):
        return Move("scaled", dF.sum(dim=0), rates.c)

    # ---------------------------------------------------------------- public
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Network outputs f_k(x), shape (B, K)."""
        return self.forward(x)[0]

    def gradients(self, x, y):
        """Gradients of each network's batch loss mean_b (y_b - f_k(x_b))², by hand.

        Returns a dict with the same keys as :meth:`parameters` (the moves of :meth:`step` with
        unit multipliers) and the residuals r = f - y of shape (B, K). Lazy networks
        (``alpha``): D and b get the gradients of the loss divided by α², c that of the plain loss.
        """
        f, cache = self.forward(x)
        r = f - y[:, None]
        moves = self.backward(x, r * (2.0 / x.shape[0]), cache, self.unit)
        return {name: move.gradient(x) for name, move in moves.items()}, r

    def step(self, x, y, factor: float = 1.0) -> None:
        """One SGD step on the batch (x, y), step sizes lr_k·factor (fused, in place).

        With ``matmul_dtype`` the two matrix products run in it: x is rounded once, the forward
        multiplies it by the low-precision weights, the update xᵀ·value is formed in it and
        added to the master weights in ``dtype``, whose new values the low copy then takes.
        """
        low = self.matmul_dtype
        xm = x if low is None else x.to(low)
        f, cache = self.forward(xm)
        r = f.sub_(y[:, None])
        self.loss_sum.add_(torch.linalg.vecdot(r, r, dim=0))
        moves = self.backward(xm, r.mul_(2.0 / x.shape[0]), cache, self.rates)
        params = self.parameters()
        for name, move in moves.items():
            if move.kind != "outer":
                params[name].addcmul_(move.value, move.rate, value=-factor)
            elif low is None:                                # θ -= factor·xᵀ·value, transposed
                self.transposed[name].addmm_(x.t(), move.value, alpha=-factor)
            else:
                master = self.transposed[name]
                master.add_(xm.t() @ move.value.to(low), alpha=-factor)
                self.low_views[name].copy_(master)

    def numpy_params(self, k: int) -> dict:
        """Network k's parameters as float64 numpy arrays (a fresh copy)."""
        return {name: (float(v) if name in ("c", "alpha") else v.cpu().numpy().copy())
                for name, v in self.network_params(k).items()}

    def quadratic_form(self, k: int):
        """(M, c) with f_k(x) = c + xᵀMx, for σ(u) = p2 u² + p0 (float64 numpy)."""
        M, c = self.regime.quadratic_form(self.network_params(k), self.act)
        return M.cpu().numpy(), c

    def weight_changes(self) -> np.ndarray:
        """‖W_k - W0_k‖_F / ‖W0_k‖_F of every network (0 where W is fixed)."""
        diff = self.moved_weights()
        if diff is None:
            return np.zeros(self.K)
        sq = (diff.to(torch.float64) ** 2).sum(dim=1) @ self.onehot.to(torch.float64)
        return (sq.sqrt() / self.w0_norm).cpu().numpy()

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(t).all()) for t in self.parameters().values())

    def _f64(self, t, lo, hi):
        return t[lo:hi].detach().to(torch.float64)


class RFModel(StackedModel):
    """Random features: W fixed, per-neuron a (from a0) and c trained."""

    products = 1

    def _store(self, W, Wt, a0):
        self.Wt, self.W = Wt, Wt.t()
        self.a = a0.clone()
        self.transposed = {}

    def coef(self) -> torch.Tensor:
        """Per-row output weight a_i / N_k."""
        return self.a * self.inv_n

    def forward(self, x):
        H = self._project(x)
        S = self.act.fn(H)
        return self._seg_sum(S, self.coef()).add_(self.c), (H, S)

    def backward(self, x, dF, cache, rates):
        _, S = cache
        return {"a": Move("scaled", self._own(dF, S), rates.row),   # lr·N·(N_k·∂L/∂a_i / N)
                "c": self._offset_move(dF, rates)}

    def parameters(self):
        return {"c": self.c, "a": self.a}

    def network_params(self, k):
        lo, hi = self._bounds(k)
        return {"W": self._f64(self.W, lo, hi), "c": self.c[k], "a": self._f64(self.a, lo, hi)}


class NNModel(RFModel):
    """The mean-field network: W trained too; one shared a (from 0) or per-neuron a_i (from a0)."""

    products = 2

    def _store(self, W, Wt, a0):
        self.shared_a = self.regime.shared_a
        self.Wt, self.W = Wt, Wt.t()
        self.W0 = W
        self.a = torch.zeros(self.K, **self.opts) if self.shared_a else a0.clone()
        self.transposed = {"W": self.Wt}

    def coef(self) -> torch.Tensor:
        """Per-row output weight a_i / N_k (shared a broadcast to its rows)."""
        a = self.a[self.seg] if self.shared_a else self.a
        return a * self.inv_n

    def forward(self, x):
        if not self.shared_a:
            return super().forward(x)
        H = self._project(x)
        sums = self._seg_sum(self.act.fn(H))                 # (B, K); σ(H) itself is no longer needed
        return torch.addcmul(self.c, sums, self.a * self.inv_widths), (H, sums)

    def backward(self, x, dF, cache, rates):
        H, S = cache
        if self.shared_a:                                    # S holds the per-network sums
            dH = self._backward_to_h(dF, self.a * rates.net_w, H)   # a_k·lr_k on network k's rows
            ga = Move("scaled", torch.linalg.vecdot(dF, S, dim=0), rates.shared)
        else:
            dH = self._backward_to_h(dF, self.coef() * rates.row_w, H)
            ga = Move("scaled", self._own(dF, S), rates.row)
        return {"W": Move("outer", dH), "a": ga, "c": self._offset_move(dF, rates)}

    def parameters(self):
        return {"c": self.c, "W": self.W, "a": self.a}

    def network_params(self, k):
        lo, hi = self._bounds(k)
        if not self.shared_a:
            return super().network_params(k)
        return {"W": self._f64(self.W, lo, hi), "c": self.c[k],
                "a": self.a[k].detach().to(torch.float64).expand(hi - lo)}

    def numpy_params(self, k):
        out = super().numpy_params(k)
        if self.shared_a:
            out["a"] = np.array(float(self.a[k]))
        return out

    def moved_weights(self):
        return self.W - self.W0


class NTModel(StackedModel):
    """Neural tangents: W and a0 fixed, the tangent weights G (from 0) trained; + a with the second layer.

    ``tangent_preconditioner``: one symmetric (N_k, N_k) matrix P_k per network; each step of the
    tangent weights becomes G_k ← G_k − P_k·(lr·N·∂L/∂G_k). It is applied inside the step, to
    the (B, N_k) backward array before the weight product (dP·P_k, 2·B·N_k² flops), not to the
    (N_k, d) update (2·N_k²·d flops and two copies).
    """

    products = 3
    buffer_name = "WGt"

    def __init__(self, regime, activation, weights, a0, lrs, *, tangent_preconditioner=None, **kw):
        self._pre_matrices = tangent_preconditioner
        super().__init__(regime, activation, weights, a0, lrs, **kw)

    def _store(self, W, Wt, a0):
        self.second_layer = self.regime.second_layer
        pre = None
        if self._pre_matrices is not None:
            if len(self._pre_matrices) != self.K:
                raise ValueError(f"tangent_preconditioner needs one matrix per network ({self.K}), "
                                 f"got {len(self._pre_matrices)}")
            bounds = np.cumsum([0] + self.widths)
            pre = [(int(lo), int(hi), torch.as_tensor(P, **self.opts))
                   for lo, hi, P in zip(bounds[:-1], bounds[1:], self._pre_matrices)]
        self.pre = pre
        self.rates = replace(self.rates, pre=pre)
        # W and G in one buffer: one product x @ [Wᵀ Gᵀ] gives both projections
        self.WGt = torch.cat([Wt, torch.zeros_like(Wt)], dim=1)
        self.Gt = self.WGt[:, self.n:]
        self.W, self.G = self.WGt[:, : self.n].t(), self.Gt.t()
        self.a0 = a0
        self.a = a0.clone() if self.second_layer else None
        self.transposed = {"G": self.Gt}

    def forward(self, x):
        HP = self._project(x)
        H, P = HP[:, : self.n], HP[:, self.n:]
        D = self.act.derivative(H)
        f = self._seg_sum(D * P, self.a0 * self.inv_n)
        S = None
        if self.second_layer:
            S = self.act.fn(H)
            f += self._seg_sum(S, self.a * self.inv_n)
        return f.add_(self.c), (D, S)

    def backward(self, x, dF, cache, rates):
        D, S = cache
        dP = self._spread(dF, self.a0 * self.inv_n * rates.row_w).mul_(D)
        if rates.pre is not None:                            # G_k -= P_k·(lr·N·∂L/∂G_k)
            for lo, hi, P in rates.pre:
                dP[:, lo:hi] = dP[:, lo:hi] @ P
        moves = {"G": Move("outer", dP)}
        if self.second_layer:
            moves["a"] = Move("scaled", self._own(dF, S), rates.row)
        moves["c"] = self._offset_move(dF, rates)
        return moves

    def parameters(self):
        out = {"c": self.c, "G": self.G}
        if self.second_layer:
            out["a"] = self.a
        return out

    def network_params(self, k):
        lo, hi = self._bounds(k)
        out = {"W": self._f64(self.W, lo, hi), "c": self.c[k]}
        if self.second_layer:
            out["a"] = self._f64(self.a, lo, hi)
        out["G"] = self._f64(self.G, lo, hi)
        out["a0"] = self._f64(self.a0, lo, hi)
        return out


class LazyNNModel(StackedModel):
    """c + α·(h(x; θ) − h(x; θ0)), θ = (W0 + D, a0 + b); (D, b) trained on the loss / α², c plainly.

    ``alpha``: α of each network (one number, or one per network).
    """

    products = 2
    buffer_name = "WDt"

    def __init__(self, regime, activation, weights, a0, lrs, *, alpha, **kw):
        self.alphas = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (len(weights),)).copy()
        super().__init__(regime, activation, weights, a0, lrs, **kw)

    def _store(self, W, Wt, a0):
        self.alpha = torch.as_tensor(self.alphas, **self.opts)                # (K,)
        self.inv_alpha_row = (1.0 / self.alpha)[self.seg]                     # α / α² per row
        self.rates = replace(self.rates, lazy=self.lr_row * self.inv_alpha_row)
        self.unit = replace(self.unit, lazy=self.inv_n * self.inv_alpha_row)
        # W0 and D = W - W0 in one buffer: one product x @ [W0ᵀ D ᵀ] gives both projections
        self.WDt = torch.cat([Wt, torch.zeros_like(Wt)], dim=1)
        self.Dt = self.WDt[:, self.n:]
        self.W0, self.D = self.WDt[:, : self.n].t(), self.Dt.t()
        self.a0 = a0
        self.b = torch.zeros_like(a0)                                         # a - a0
        self.transposed = {"D": self.Dt}

    def forward(self, x):
        act = self.act
        HH = self._project(x)
        H0, H = HH[:, : self.n], HH[:, self.n:]
        H += H0                                              # H = x·(W0 + D)ᵀ
        S = act.fn(H)
        dS = S - act.fn(H0)                                  # σ(⟨w_i,x⟩) - σ(⟨w0_i,x⟩)
        f = self._seg_sum(dS, self.a0 * self.inv_n) + self._seg_sum(S, self.b * self.inv_n)
        return f.mul_(self.alpha).add_(self.c), (H, S)

    def backward(self, x, dF, cache, rates):
        H, S = cache
        # α (from f) / α² (from the loss), times lr·N and the 1/N of h
        dH = self._backward_to_h(dF, (self.a0 + self.b) * rates.lazy, H)
        return {"D": Move("outer", dH), "b": Move("scaled", self._own(dF, S), rates.lazy),
                "c": self._offset_move(dF, rates)}

    def parameters(self):
        return {"c": self.c, "D": self.D, "b": self.b}

    def network_params(self, k):
        lo, hi = self._bounds(k)
        return {"W0": self._f64(self.W0, lo, hi), "D": self._f64(self.D, lo, hi),
                "a0": self._f64(self.a0, lo, hi), "b": self._f64(self.b, lo, hi),
                "c": self.c[k], "alpha": float(self.alphas[k])}

    def numpy_params(self, k):
        p = super().numpy_params(k)
        return {"W": p["W0"] + p["D"], "c": p["c"], "a": p["a0"] + p["b"], "W0": p["W0"],
                "a0": p["a0"], "alpha": p["alpha"]}

    def moved_weights(self):
        return self.D


#: The SGD model of each regime (by the regime's class; a variant is an instance of its class).
MODELS = {RF: RFModel, NN: NNModel, NT: NTModel, LazyNN: LazyNNModel}


def make_model(regime, activation, weights, a0, lrs, *, shared_a=True, second_layer=False, alpha=None,
               tangent_preconditioner=None, offset_mult=1.0, device="cpu", dtype=torch.float32,
               matmul_dtype=None):
    """The stacked SGD model of a regime (a name with its variant keywords, or a Regime object).

    ``alpha`` (one number or one per network) selects the lazily scaled NN; ``tangent_preconditioner``
    applies to NT only; ``matmul_dtype`` (e.g. ``torch.bfloat16``) the mixed-precision step.
    """
    regime = get_regime(regime, second_layer=second_layer, shared_a=shared_a, lazy=alpha is not None)
    cls = MODELS.get(type(regime))
    if cls is None:
        raise ValueError(f"regime {regime.name!r} has no SGD model")
    kw = dict(offset_mult=offset_mult, device=device, dtype=dtype, matmul_dtype=matmul_dtype)
    if tangent_preconditioner is not None:
        if cls is not NTModel:
            raise ValueError(f"tangent_preconditioner applies to regime 'nt' (its tangent weights G), "
                             f"got regime={regime.name!r}")
        kw["tangent_preconditioner"] = tangent_preconditioner
    if cls is LazyNNModel:
        kw["alpha"] = alpha
    elif alpha is not None:
        raise ValueError(f"alpha (lazy scaling) applies to regime 'nn', got regime={regime.name!r}")
    return cls(regime, activation, weights, a0, lrs, **kw)


__all__ = ["LazyNNModel", "MODELS", "Move", "NNModel", "NTModel", "RFModel", "Rates", "StackedModel",
           "make_model"]
