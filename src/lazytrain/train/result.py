"""What a training run returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class History:
    """Risk along training.

    Attributes
    ----------
    steps : ndarray of int
        Step index of each record (0 = before training).
    samples : ndarray of int or None
        Fresh samples seen (steps × batch size); None for the population flow.
    time : ndarray of float
        Mean-field time Σ (step size) up to each record.
    risk : ndarray of float
        Normalised risk R/R0. ``kind='exact'``: the population risk of the
        parameters at that step; ``kind='online'``: the mean loss on the fresh
        batches since the previous record (each batch is unseen when its loss
        is taken, so this is an unbiased estimate of the risk over that window).
    kind : {'exact', 'online'}
    weight_change : ndarray of float or None
        ‖W - W0‖_F / ‖W0‖_F at each record (zeros for RF and NT, whose W is
        fixed).
    """

    steps: np.ndarray
    samples: np.ndarray | None
    time: np.ndarray
    risk: np.ndarray
    kind: str
    weight_change: np.ndarray | None = None


@dataclass
class TrainResult:
    """Outcome of :func:`lazytrain.train`.

    Attributes
    ----------
    risk : float
        Final normalised population risk R/R0 (R0 = risk of the best constant
        predictor).
    risk_method : {'exact', 'monte_carlo'}
        'exact' when the trained model is a quadratic form c + xᵀMx (even
        quadratic activation): ``task.predictor_risk(M, c)``. 'monte_carlo':
        mean squared error on ``n_test`` fresh samples, standard error in
        ``risk_se``.
    risk_se : float
        Standard error of ``risk`` (0.0 when exact).
    history : History
    params : dict of numpy arrays
        Final parameters: 'W' (N, d), 'c', 'a' (scalar array when shared,
        else (N,)), and for NT 'G' (N, d) and 'a0' (N,).
    settings : dict
        Everything needed to rerun: task, regime, n_neurons, activation,
        method, steps, batch_size, lr, schedule, seed, dtype, device, ...
    wall_time : float
        Seconds spent in training (shared among the widths of a sweep).
    weight_change : float
        ‖W - W0‖_F / ‖W0‖_F at the end (0 for RF and NT, whose W is fixed);
        along training in ``history.weight_change``.
    alpha : float or None
        The lazy-scaling factor α the network was trained with (None: the
        mean-field network); see :func:`lazytrain.train`.
    quadratic_form : tuple (M, c) or None
        The trained network as c + xᵀMx (SGD with an even quadratic
        activation), e.g. for ``task.predictor_error(M, c)``; else None.
    """

    risk: float
    risk_method: str
    risk_se: float
    history: History
    params: dict = field(repr=False)
    settings: dict
    wall_time: float
    weight_change: float = 0.0
    alpha: float | None = None
    quadratic_form: tuple | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """One line: what was trained and how well (the arrays are in ``params``, ``history``)."""
        st = self.settings
        se = f" ± {self.risk_se:.2g}" if self.risk_se else ""
        lr = st.get("lr")
        lr = f"{lr:.3g}" if isinstance(lr, float) else repr(lr)
        return (f"TrainResult(risk={self.risk:.6g}{se} [{self.risk_method}], "
                f"regime={st.get('regime')!r}, n_neurons={st.get('n_neurons')}, "
                f"activation={st.get('activation')!r}, steps={st.get('steps')}, lr={lr}, "
                f"seed={st.get('seed')}, wall_time={self.wall_time:.3g} s)")

    @property
    def samples(self) -> int | None:
        """Fresh samples used (None for the population flow)."""
        s = self.history.samples
        return None if s is None else int(s[-1])
