"""Deferred estimator derivatives: one batched backward for all the steps of a sequence.

The backward of `analytic`, `iw` and `gumbel_rao` reads only what the forward
saw, ``(x, S, s)`` (see `estimators`): nothing in it waits for the incoming
gradient but one final product.  A LIF layer's time loop calls the estimator T
times, and autograd then runs T small backward nodes of ~10 (`analytic`) to ~20
(`iw`) tensor ops each; on a CPU each op costs several microseconds of dispatch
whatever its size, more than the arithmetic on a [B, N] step.  A
`SequenceTape` collects the T forward calls of one sequence; the first backward
call (the last step's) computes ``D`` and ``dL/dV`` for every step at once, in
chunks of steps stacked along a new axis, and each step's backward is then two
products.  The estimator is the same: each step still gets its own K fresh
draws (shared across the batch when ``share_draws``), drawn a chunk at a time.

The forward is unchanged bit for bit (the same ``s = H(x + sqrt(V) z)``); the
derivatives are equal to the per-step ones up to float rounding (`analytic`,
`gumbel_rao`) or in distribution (`iw`: the same draws, taken in another order).
A tape belongs to one sequence: `Firing.sequence()` makes one per time loop
(`LIFNeuron.stepper`). This module is part of the estimators' implementation and
uses their private helpers (the sample, the draws) and `sample_derivatives`, so
that each formula is written once.
"""
from __future__ import annotations

import torch
from torch.autograd import Function

from snnc.train import estimators as est

DEFERRABLE = est.SAMPLE_ESTIMATORS   # their backward reads only (x, S, s)

# elements of the largest temporary of one chunk ([K, steps, B, N] for iw): big enough that
# a chunk's ~15 ops amortise their dispatch, small enough to stay in cache; an estimate,
# tuned by benchmarks/train_overhead.py on this project's 2-core CPU
CHUNK_ELEMENTS = 2 ** 20


class SequenceTape:
    """The forward inputs of one sequence's spikes until the first backward call, then
    each step's derivatives until its own backward takes them: `(D[t], DV[t])`
    (ds/dx and ds/dV; DV None when no step needs it)."""

    def __init__(self, estimator: str, opts: dict):
        if estimator not in DEFERRABLE:
            raise ValueError(f"estimator {estimator!r} cannot defer its backward; one of {DEFERRABLE}")
        est._check_args(estimator, opts["tau"], opts["k"], opts["noise"], opts["relaxation"],
                        opts["batch_dim"])
        self.estimator, self.opts = estimator, dict(opts, tau=float(opts["tau"]))
        self.inputs: list | None = []      # (x, S, s) per step, detached; None once computed
        self.need_var = False
        self.results: list = []            # (D, DV) per step; an entry is None once taken

    def spike_var(self, u: torch.Tensor, theta, noise_var: torch.Tensor) -> torch.Tensor:
        """`estimators.spike_var(u, theta, noise_var, estimator)` with the backward deferred."""
        x, V = est._broadcast(u - theta, noise_var)
        z = est._draw(x.shape, x, self.opts["noise"], self.opts["generator"])
        return _DeferredSpike.apply(x, V, z, self)

    def record(self, x, S, s, need_var: bool) -> int:
        if self.inputs is None:
            raise RuntimeError("a SequenceTape is used for one sequence: its backward has run")
        if not self.inputs and 1 < x.dim() <= self.opts["batch_dim"]:
            raise ValueError(f"batch_dim must be < {x.dim()} (the sample's dims {tuple(x.shape)}), "
                             f"got {self.opts['batch_dim']}")
        self.inputs.append((x.detach(), S.detach(), s.detach()))
        self.need_var |= need_var
        return len(self.inputs) - 1

    def take(self, t: int, x, S, s):
        """(D[t], DV[t]), handed over once so that each step's memory goes with its
        backward (as autograd frees saved tensors); the first call computes every
        step's. A second backward through the graph (retain_graph) finds the entry
        taken and computes step t alone from its saved (x, S, s)."""
        if self.inputs is not None:
            self.results, self.inputs = self._compute(self.inputs), None
        entry, self.results[t] = self.results[t], None
        return entry if entry is not None else self._compute([(x, S, s)])[0]

    def _compute(self, inputs: list) -> list:
        """(D, DV) of every step of `inputs`, in chunks of steps stacked on a new axis."""
        steps, out = self._chunk_steps(inputs[0][0]), []
        for i in range(0, len(inputs), steps):
            x, S, s = (torch.stack(col) for col in zip(*inputs[i:i + steps]))
            d, d_s = self._chunk(x, S, s)
            dv = est._input_grad(d_s, S, True) if self.need_var else None
            out.extend(zip(d.unbind(0), dv.unbind(0) if dv is not None else [None] * len(d)))
        return out

    def _chunk_steps(self, x) -> int:
        per_step = x.numel() * (self.opts["k"] if self.estimator == "iw" else 1)
        return max(1, CHUNK_ELEMENTS // max(per_step, 1))

    def _chunk(self, x, S, s):
        """(D, D_S) of the estimator on stacked steps [steps, ...] (the batch one axis later;
        as per step, no draws shared for a step without a batch axis)."""
        o = self.opts
        stacked = dict(o, batch_dim=o["batch_dim"] + 1, share_draws=o["share_draws"] and x.dim() > 2)
        return est.sample_derivatives(self.estimator, x, S, s, stacked, self.need_var)


class _DeferredSpike(Function):
    """s = H(x + sqrt(V) z); backward: grad * D[t] and grad * DV[t] from the tape.

    (x, S, s) are saved as any Function saves them (freed after the step's backward,
    checked against in-place changes); the tape holds detached views of them until its
    first backward call."""

    @staticmethod
    def forward(ctx, x, V, z, tape: SequenceTape):
        S, s = est._sample(ctx, x, V, z, True)
        ctx.tape = tape
        ctx.t = tape.record(x, S, s, ctx.needs_input_grad[1])
        ctx.save_for_backward(x, S, s)
        return s

    @staticmethod
    def backward(ctx, grad):
        D, DV = ctx.tape.take(ctx.t, *ctx.saved_tensors)
        gV = grad * DV if ctx.needs_input_grad[1] else None
        return grad * D, gV, None, None
