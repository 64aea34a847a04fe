"""Two-layer networks in the paper's mean-field parametrisation, stacked.

K networks of widths N_1..N_K are stored row-wise in one set of tensors so
that a single matrix product serves all of them: the widths of a sweep are
trained side by side on one sample stream (docs/reproduction.md, "mean-field
parameterization" of the authors' scripts, with α = β = η = 1):

* ``nn``: f(x) = c + (1/N) Σ_i a_i σ(⟨w_i, x⟩), W trained. With
  ``shared_a=True`` (the authors' default) a_i = a is one scalar that starts
  at 0; otherwise a_i starts at a0_i.
* ``rf``: the same model with W fixed; a_i (start a0_i) and c trained.
* ``nt``: f(x) = c + (1/N) Σ_i [a0_i σ'(⟨w_i, x⟩) ⟨g_i, x⟩ + a_i σ(⟨w_i, x⟩)],
  W and a0 fixed, g_i (start 0) trained; the second-layer term a_i σ
  (start a_i = a0_i) is present only with ``second_layer=True``.

* ``nn`` with ``alpha = α`` (the lazy scaling of Chizat, Oyallon & Bach,
  arXiv 1812.07956): f(x) = c + α·(h(x; θ) − h(x; θ₀)) with
  h = (1/N) Σ_i a_i σ(⟨w_i, x⟩), θ = (W, a) per neuron, a starting at a0_i;
  θ is trained on the loss divided by α², c on the plain loss
  (docs/theory.md, "The laziness dial"). W is stored as W0 + D and a as
  a0 + b, so that the small moves D, b (of order 1/α) keep their precision
  in float32; one product x·[W0; D]ᵀ gives both projections.

a0_i = ±1 (random signs). The authors draw a0_i ~ N(0, 1); the NT class is
the same either way, but the tangent direction of neuron i then learns at a
rate ∝ a0_i², so the neurons with small |a0_i| lag far behind (measured at
d = 20, N = 14: 0.236 against the exact 0.164 after 6000 steps with N(0, 1)
draws, within 0.001 with signs).

Step multipliers (the authors' ``N·η/α²`` and ``η_c/β²``): rows of W and G and
per-neuron a_i move with lr·N, a shared a with lr, the offset c with lr·η_c. Each
network's gradient is that of its own batch loss mean_b (y_b - f(x_b))²
(no ½), written by hand below and checked against torch autograd in the tests.
"""

from __future__ import annotations

import numpy as np
import torch


class Networks:
    """K two-layer networks of one regime, trained together.

    Parameters
    ----------
    regime : {'rf', 'nt', 'nn'}
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
    shared_a, second_layer : bool
        See the module docstring.
    offset_mult : float
        η_c: the offset c moves with step size lr·η_c (the authors' script
        exposes η_c, default 1).
    tangent_preconditioner : list of ndarray, optional
        NT only: one symmetric (N_k, N_k) matrix P_k per network; each step
        of the tangent weights becomes G_k ← G_k − P_k·(lr·N·∂L/∂G_k). It
        is applied inside the step, to the (B, N_k) backward array before
        the weight product (dP·P_k, 2·B·N_k² flops), not to the (N_k, d)
        update (2·N_k²·d flops and two copies).
    device, dtype
        Where and in which precision the parameters live.
    """

    def __init__(self, regime, activation, weights, a0, lrs, *, shared_a=True,
                 second_layer=False, offset_mult=1.0, alpha=None, tangent_preconditioner=None,
                 device="cpu", dtype=torch.float32):
        if tangent_preconditioner is not None and regime != "nt":
            raise ValueError(f"tangent_preconditioner applies to regime 'nt' (its tangent weights G), "
                             f"got regime={regime!r}")
        self.regime = regime
        self.act = activation
        self.lazy = regime == "nn" and alpha is not None
        # α of each network (one number, or one per network)
        self.alphas = (np.broadcast_to(np.asarray(alpha, dtype=np.float64), (len(weights),)).copy()
                       if self.lazy else None)
        self.shared_a = bool(shared_a) and regime == "nn" and not self.lazy
        self.second_layer = regime != "nt" or bool(second_layer)
        self.widths = [int(w.shape[0]) for w in weights]
        self.K = len(self.widths)
        self.n = sum(self.widths)
        self.d = int(weights[0].shape[1])
        self.device, self.dtype = torch.device(device), dtype
        # σ(u) = p2 u² + p0: σ'(u) = 2 p2 u, so the backward pass multiplies by H itself and folds
        # 2 p2 into the per-neuron coefficients (one B×N array and one pass fewer per step)
        self.linear_derivative = 2.0 * activation.poly[2] if activation.is_even_quadratic else None
        opts = dict(device=self.device, dtype=dtype)
        widths = torch.tensor(self.widths, device=self.device)
        self.seg = torch.repeat_interleave(torch.arange(self.K, device=self.device), widths)
        self.inv_widths = 1.0 / widths.to(dtype)                              # 1/N_k (K,)
        self.inv_n = self.inv_widths[self.seg]                                # 1/N_k per row
        self.lr = torch.as_tensor(np.asarray(lrs, dtype=np.float64), **opts)  # (K,)
        self.lr_c = self.lr * float(offset_mult)
        self.lr_shared = self.lr * self.inv_widths                           # lr_k/N_k: a shared a
        self.lr_row = self.lr[self.seg]
        self.lrN_row = self.lr_row / self.inv_n                               # lr·N_k per row
        # one-hot (K, n) for the segment sums Σ_{i in network k}
        self.onehot_t = torch.zeros((self.K, self.n), **opts)
        self.onehot_t[self.seg, torch.arange(self.n, device=self.device)] = 1.0
        self.onehot = self.onehot_t.t()

        W = torch.as_tensor(np.concatenate(weights), **opts)
        a0 = torch.as_tensor(np.concatenate(a0), **opts)
        self.c = torch.zeros(self.K, **opts)
        # ‖W0‖_F of each network, for the relative weight movement
        self.w0_norm = torch.as_tensor([float(np.linalg.norm(w)) for w in weights],
                                       dtype=torch.float64, device=self.device)
        # Storage: the first-layer weights live transposed, as (d, n) buffers, and W, G, D are
        # (n, d) views of them. The forward product x·Wᵀ is then x @ Wt and the update
        # Wt += xᵀ·dH, the layout in which both products run fastest at these shapes: the
        # update W += dHᵀ·x into an (n, d) buffer ran at 55 % of the matmul peak for n = 3600,
        # d = 450, B = 100, against 90 % transposed (benchmarks/bench_sgd.py, docs/performance.md).
        Wt = W.t().contiguous()
        if self.lazy:
            self.alpha = torch.as_tensor(self.alphas, **opts)                   # (K,)
            self.inv_alpha_row = (1.0 / self.alpha)[self.seg]                 # α / α² per row
            # W0 and D = W - W0 in one buffer: one product x @ [W0ᵀ D ᵀ] gives both projections
            self.WDt = torch.cat([Wt, torch.zeros_like(Wt)], dim=1)
            self.Dt = self.WDt[:, self.n:]
            self.W0, self.D = self.WDt[:, : self.n].t(), self.Dt.t()
            self.a0 = a0
            self.b = torch.zeros_like(a0)                                    # a - a0
        elif regime == "nt":
            self.pre = None
            if tangent_preconditioner is not None:
                if len(tangent_preconditioner) != self.K:
                    raise ValueError(f"tangent_preconditioner needs one matrix per network ({self.K}), "
                                     f"got {len(tangent_preconditioner)}")
                bounds = np.cumsum([0] + self.widths)
                self.pre = [(int(lo), int(hi), torch.as_tensor(P, **opts))
                            for lo, hi, P in zip(bounds[:-1], bounds[1:], tangent_preconditioner)]
            # W and G in one buffer: one product x @ [Wᵀ Gᵀ] gives both projections
            self.WGt = torch.cat([Wt, torch.zeros_like(Wt)], dim=1)
            self.Gt = self.WGt[:, self.n:]
            self.W, self.G = self.WGt[:, : self.n].t(), self.Gt.t()
            self.a0 = a0
            self.a = a0.clone() if self.second_layer else None
        else:
            self.Wt = Wt
            self.W = Wt.t()
            self.W0 = W if regime == "nn" else None
            self.a = torch.zeros(self.K, **opts) if self.shared_a else a0.clone()
        self.loss_sum = torch.zeros(self.K, **opts)  # Σ (y - f)² since the last reset

    # ---------------------------------------------------------------- helpers
    # Per-neuron weights v (n,) act through the block matrix diag(v)·onehot (n, K): the output sum
    # Σ_{i in network k} v_i S_bi, the spread of per-network residuals back to the neurons and the
    # per-neuron sums over the batch are then three small matrix products instead of elementwise
    # passes over (B, n) arrays. The blocks are kept as (K, n) rows: (blocks)ᵀ·Sᵀ ran 1.5-2× faster
    # than S·blocks for K = 15, n = 3600 (docs/performance.md). With a shared second-layer scalar
    # (the mean-field default) v is constant on each network and no block matrix is built.
    def coef(self) -> torch.Tensor:
        """Per-row output weight a_i / N_k (shared a broadcast to its rows)."""
        a = self.a[self.seg] if self.shared_a else self.a
        return a * self.inv_n

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

    def _forward(self, x):
        """Outputs f (B, K) and what the backward pass needs."""
        act = self.act
        if self.lazy:
            HH = x @ self.WDt
            H0, H = HH[:, : self.n], HH[:, self.n:]
            H += H0                                          # H = x·(W0 + D)ᵀ
            S = act.fn(H)
            dS = S - act.fn(H0)                              # σ(⟨w_i,x⟩) - σ(⟨w0_i,x⟩)
            f = self._seg_sum(dS, self.a0 * self.inv_n) + self._seg_sum(S, self.b * self.inv_n)
            return f.mul_(self.alpha).add_(self.c), (H, S)
        if self.regime == "nt":
            HP = x @ self.WGt
            H, P = HP[:, : self.n], HP[:, self.n:]
            D = act.derivative(H)
            f = self._seg_sum(D * P, self.a0 * self.inv_n)
            S = None
            if self.second_layer:
                S = act.fn(H)
                f += self._seg_sum(S, self.coef())
            return f.add_(self.c), (D, S)
        H = x @ self.Wt
        S = act.fn(H)
        if self.shared_a:
            sums = self._seg_sum(S)                          # (B, K); S itself is no longer needed
            return torch.addcmul(self.c, sums, self.a * self.inv_widths), (H, sums)
        return self._seg_sum(S, self.coef()).add_(self.c), (H, S)

    # ---------------------------------------------------------------- public
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Network outputs f_k(x), shape (B, K)."""
        return self._forward(x)[0]

    def gradients(self, x, y):
        """Gradients of each network's batch loss mean_b (y_b - f_k(x_b))², by hand.

        Returns a dict with the same keys as :meth:`parameters` (without the
        step multipliers) and the residuals r = f - y of shape (B, K). Lazy
        networks (``alpha``): D and b get the gradients of the loss divided
        by α², c that of the plain loss.
        """
        f, cache = self._forward(x)
        r = f - y[:, None]
        dF = r * (2.0 / x.shape[0])
        grads = {"c": dF.sum(dim=0)}
        if self.lazy:
            H, S = cache
            scale = self.inv_alpha_row                        # α (from f) / α² (from the loss)
            dH = self._backward_to_h(dF, (self.a0 + self.b) * self.inv_n * scale, H)
            grads["D"] = dH.t() @ x
            grads["b"] = self._own(dF, S) * self.inv_n * scale
            return grads, r
        if self.regime == "nt":
            D, S = cache
            dP = self._spread(dF, self.a0 * self.inv_n) * D
            grads["G"] = dP.t() @ x
        else:
            H, S = cache
            if self.regime == "nn":
                dH = self._backward_to_h(dF, self.coef(), H)
                grads["W"] = dH.t() @ x
        if self.shared_a:
            grads["a"] = torch.linalg.vecdot(dF, S, dim=0) * self.inv_widths  # S: per-network sums
        elif S is not None:
            grads["a"] = self._own(dF, S) * self.inv_n
        return grads, r

    def step(self, x, y, factor: float = 1.0) -> None:
        """One SGD step on the batch (x, y), step sizes lr_k·factor (fused, in place)."""
        f, cache = self._forward(x)
        r = f.sub_(y[:, None])
        self.loss_sum.add_(torch.linalg.vecdot(r, r, dim=0))
        dF = r.mul_(2.0 / x.shape[0])
        if self.lazy:
            H, S = cache
            lr_scaled = self.lr_row * self.inv_alpha_row
            dH = self._backward_to_h(dF, (self.a0 + self.b) * lr_scaled, H)
            self.b.addcmul_(self._own(dF, S), lr_scaled, value=-factor)  # lr·N·∂L_α/∂b_i
            self.Dt.addmm_(x.t(), dH, alpha=-factor)         # D -= factor·lr·N·∂L_α/∂D
            self.c.addcmul_(dF.sum(dim=0), self.lr_c, value=-factor)
            return
        if self.regime == "nt":
            D, S = cache
            dP = self._spread(dF, self.a0 * self.inv_n * self.lrN_row).mul_(D)
            if self.pre is not None:                         # G_k -= P_k·(lr·N·∂L/∂G_k)
                for lo, hi, P in self.pre:
                    dP[:, lo:hi] = dP[:, lo:hi] @ P
            self.Gt.addmm_(x.t(), dP, alpha=-factor)         # G -= factor·lr·N·∂L/∂G
        else:
            H, S = cache
            if self.regime == "nn":
                # coef·lr·N: a_k·lr_k on every row of network k when a is shared
                v = self.a * self.lr if self.shared_a else self.coef() * self.lrN_row
                dH = self._backward_to_h(dF, v, H)
        if self.shared_a:                                    # S holds the per-network sums
            self.a.addcmul_(torch.linalg.vecdot(dF, S, dim=0), self.lr_shared, value=-factor)
        elif S is not None:
            ga = self._own(dF, S)                            # N_k · ∂L/∂a_i
            self.a.addcmul_(ga, self.lr_row, value=-factor)  # lr·N·(ga/N)
        if self.regime == "nn":
            self.Wt.addmm_(x.t(), dH, alpha=-factor)         # W -= factor·lr·N·∂L/∂W
        self.c.addcmul_(dF.sum(dim=0), self.lr_c, value=-factor)

    def parameters(self) -> dict:
        """The trained tensors by name (views, not copies)."""
        if self.lazy:
            return {"c": self.c, "D": self.D, "b": self.b}
        out = {"c": self.c}
        if self.regime == "nn":
            out["W"] = self.W
        if self.regime == "nt":
            out["G"] = self.G
        if self.a is not None:
            out["a"] = self.a
        return out

    def numpy_params(self, k: int) -> dict:
        """Network k's parameters as float64 numpy arrays (a fresh copy)."""
        lo = sum(self.widths[:k])
        hi = lo + self.widths[k]

        def cpu(t):
            return t.detach().to("cpu", torch.float64).numpy().copy()

        if self.lazy:
            W0, a0 = cpu(self.W0[lo:hi]), cpu(self.a0[lo:hi])
            return {"W": W0 + cpu(self.D[lo:hi]), "c": float(self.c[k]), "a": a0 + cpu(self.b[lo:hi]),
                    "W0": W0, "a0": a0, "alpha": float(self.alphas[k])}
        out = {"W": cpu(self.W[lo:hi]), "c": float(self.c[k])}
        if self.a is not None:
            out["a"] = np.array(float(self.a[k])) if self.shared_a else cpu(self.a[lo:hi])
        if self.regime == "nt":
            out["G"] = cpu(self.G[lo:hi])
            out["a0"] = cpu(self.a0[lo:hi])
        return out

    def quadratic_form(self, k: int):
        """(M, c) with f_k(x) = c + xᵀMx, for σ(u) = p2 u² + p0 (float64 numpy)."""
        p0, _, p2 = self.act.poly
        lo = sum(self.widths[:k])
        hi = lo + self.widths[k]
        inv = 1.0 / self.widths[k]
        M = torch.zeros((self.d, self.d), dtype=torch.float64, device=self.device)
        const = float(self.c[k])
        if self.lazy:
            # Σ a_i w_i w_iᵀ - Σ a0_i w0_i w0_iᵀ = Σ b_i w_i w_iᵀ + Σ a0_i (w0_i d_iᵀ + d_i w0_iᵀ + d_i d_iᵀ)
            W0, D = self.W0[lo:hi].to(torch.float64), self.D[lo:hi].to(torch.float64)
            a0, b = self.a0[lo:hi].to(torch.float64), self.b[lo:hi].to(torch.float64)
            W = W0 + D
            half = (W0.t() * a0) @ D
            M = (W.t() * b) @ W + half + half.t() + (D.t() * a0) @ D
            scale = float(self.alphas[k]) * inv
            return (p2 * scale * M).cpu().numpy(), const + p0 * scale * float(b.sum())
        W = self.W[lo:hi].to(torch.float64)
        if self.a is not None:
            a = self.a[k].to(torch.float64).expand(hi - lo) if self.shared_a else self.a[lo:hi].to(torch.float64)
            M += (W.t() * (a * inv)) @ W
            const += p0 * inv * float(a.sum())
        if self.regime == "nt":
            half = (W.t() * (self.a0[lo:hi].to(torch.float64) * inv)) @ self.G[lo:hi].to(torch.float64)
            M += half + half.t()
        return (p2 * M).cpu().numpy(), const

    def weight_changes(self) -> np.ndarray:
        """‖W_k - W0_k‖_F / ‖W0_k‖_F of every network (0 where W is fixed)."""
        if self.lazy:
            diff = self.D
        elif self.regime == "nn":
            diff = self.W - self.W0
        else:
            return np.zeros(self.K)
        sq = (diff.to(torch.float64) ** 2).sum(dim=1) @ self.onehot.to(torch.float64)
        return (sq.sqrt() / self.w0_norm).cpu().numpy()

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(t).all()) for t in self.parameters().values())
