"""Deferred (batched over steps) estimator backward: the same spikes, the same derivatives."""
import gc
import weakref

import pytest
import torch

from snnc.train import deferred
from snnc.train.deferred import DEFERRABLE, SequenceTape
from snnc.train.estimators import spike_var
from snnc.train.neurons import Firing, LIFNeuron, run_neuron

OPTS = dict(tau=0.5, k=8, noise="gaussian", relaxation="sigmoid", generator=None,
            share_draws=True, batch_dim=0)


def _inputs(steps=12, batch=5, n=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64)
    var = torch.rand(steps, batch, n, generator=gen, dtype=torch.float64) + 0.05
    var[:, 0, 0] = 0.0  # a neuron without input noise
    return mu.requires_grad_(), var.requires_grad_()


def _per_step(neuron, mu, var):
    """The time loop without a tape: `neuron.step` at every step."""
    state, out = neuron.init_state(mu[0].detach() * 0), []
    for t in range(mu.shape[0]):
        s, state, _ = neuron.step(mu[t], var[t], state)
        out.append(s)
    return torch.stack(out)


def _grads(spikes, mu, var):
    weights = torch.linspace(-1, 2, spikes.numel(), dtype=spikes.dtype).view_as(spikes)
    return torch.autograd.grad((spikes * weights).sum(), (mu, var))


@pytest.mark.parametrize("estimator", ["analytic", "gumbel_rao"])
@pytest.mark.parametrize("chunk", [1, 2 ** 20])
def test_deferred_equals_per_step(estimator, chunk, monkeypatch):
    """Same spikes bit for bit, same gradients up to rounding, whatever the chunking."""
    monkeypatch.setattr(deferred, "CHUNK_ELEMENTS", chunk)
    neuron = LIFNeuron(Firing(estimator, margins=False), tau_mem=5.0, theta=0.6)
    mu, var = _inputs()
    torch.manual_seed(3)
    s_ref = _per_step(neuron, mu, var)
    torch.manual_seed(3)
    s_def, _ = run_neuron(neuron, mu, var)
    assert torch.equal(s_ref, s_def)
    for ref, got in zip(_grads(s_ref, mu, var), _grads(s_def, mu, var)):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_iw_deferred_has_the_per_step_expectation():
    """iw: other draws, same estimator: with K = 4096 both are close to E[D | s]
    (compared where the two forward samples s agree: D depends on s)."""
    x = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64).repeat(4, 1)   # [B=4, N=31]
    V = torch.full_like(x, 0.5)
    tape = SequenceTape("iw", dict(OPTS, k=4096))
    xs = [x.clone().requires_grad_() for _ in range(3)]
    torch.manual_seed(1)
    spikes = [tape.spike_var(xi, 0.0, V) for xi in xs]
    sum(s.sum() for s in spikes).backward()
    for seed, (xi, s) in enumerate(zip(xs, spikes)):
        ref = x.clone().requires_grad_()
        s_ref = spike_var(ref, 0.0, V, "iw", **dict(OPTS, k=4096, generator=torch.Generator().manual_seed(seed)))
        s_ref.sum().backward()
        same = s.detach() == s_ref.detach()
        assert same.float().mean() > 0.5
        torch.testing.assert_close(xi.grad[same], ref.grad[same], rtol=0.05, atol=1e-3)


def test_iw_draws_differ_over_steps_and_are_shared_over_the_batch():
    tape = SequenceTape("iw", dict(OPTS, k=2))
    x = torch.zeros(6, 9, dtype=torch.float64)  # [B, N], every unit alike
    V = torch.ones_like(x)
    xs = [x.clone().requires_grad_() for _ in range(5)]
    torch.manual_seed(0)
    spikes = [tape.spike_var(xi, 0.0, V) for xi in xs]
    torch.autograd.backward(spikes, [torch.ones_like(s) for s in spikes])
    D = torch.stack([xi.grad for xi in xs])      # [T, B, N]
    same_spike = torch.stack(spikes).detach() == torch.stack(spikes).detach()[:, :1]
    assert torch.equal(D[same_spike], D[:, :1].expand_as(D)[same_spike])  # shared across the batch
    assert all(not torch.equal(D[0, :, 0], D[t, :, 0]) for t in range(1, 5))  # fresh over time


def test_second_backward_recomputes_per_step():
    """retain_graph: the second backward computes each step alone (analytic: equal)."""
    tape = SequenceTape("analytic", OPTS)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    s = [tape.spike_var(x * (t + 1), 0.0, torch.ones(3, 4, dtype=torch.float64)) for t in range(3)]
    total = sum(si.sum() for si in s)
    (g1,) = torch.autograd.grad(total, x, retain_graph=True)
    (g2,) = torch.autograd.grad(total, x)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=0)
    with pytest.raises(RuntimeError, match="one sequence"):
        tape.spike_var(x, 0.0, torch.ones(3, 4, dtype=torch.float64))


def test_each_step_releases_its_derivatives_in_its_backward():
    tape = SequenceTape("iw", OPTS)
    x = torch.randn(5, 2, 3, requires_grad=True)
    spikes = [tape.spike_var(x[t], 0.0, torch.ones(2, 3)) for t in range(5)]
    torch.stack(spikes).sum().backward()
    assert tape.inputs is None and tape.results == [None] * 5


def test_in_place_change_of_a_spike_is_refused():
    """As autograd's saved-tensor check: the backward needs s as it was."""
    tape = SequenceTape("analytic", OPTS)
    x = torch.randn(3, requires_grad=True)
    s = tape.spike_var(x, 0.0, torch.ones(3))
    out = s * 1.0
    s.detach().zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_tape_is_freed_with_its_graph():
    """No reference cycle: the tape holds detached tensors, so dropping the graph frees it."""
    gc.disable()
    try:
        tape = SequenceTape("analytic", OPTS)
        ref = weakref.ref(tape)
        x = torch.randn(3, requires_grad=True)
        out = tape.spike_var(x, 0.0, torch.ones(3))
        del tape, out
        assert ref() is None
    finally:
        gc.enable()


def test_only_deferrable_estimators_and_a_valid_batch_dim():
    assert set(DEFERRABLE) == {"analytic", "iw", "gumbel_rao"}
    with pytest.raises(ValueError, match="cannot defer"):
        SequenceTape("relaxed", OPTS)
    assert Firing("relaxed").sequence().__class__ is Firing
    assert Firing("iw", deterministic=True).sequence().__class__ is Firing
    with pytest.raises(ValueError, match="batch_dim must be < 2"):
        SequenceTape("iw", dict(OPTS, batch_dim=2)).spike_var(torch.zeros(2, 3), 0.0, torch.ones(2, 3))


@pytest.mark.parametrize("name", ["mlp", "srnn"])
def test_whole_model_gradients_equal_the_per_step_path(name, monkeypatch):
    """A whole SBNN (bias noise, margins; srnn: per-step affine, no self-connections):
    same logits, same parameter gradients with and without the deferred backward."""
    from snnc.train import neurons
    from snnc.train.build import make_model
    from snnc.train.config import from_dict

    raw = {"model": {"name": name, "hidden": [16, 12], "affine": "step" if name == "srnn" else "none",
                     "bias_noise": 0.1, "self_connections": name != "srnn"},
           "method": {"estimator": "analytic"}, "loss": {"margin_lambda": 0.01}}
    torch.manual_seed(0)
    model = make_model(from_dict(raw), (6, 5), 3).double()
    x = (torch.rand(4, 6, 5, dtype=torch.float64) < 0.4).double()
    y = torch.tensor([0, 1, 2, 1])

    def run():
        torch.manual_seed(1)
        out = model(x)
        model.zero_grad()
        torch.nn.functional.cross_entropy(out.logits, y).backward()
        return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    deferred_logits, deferred_grads = run()
    monkeypatch.setattr(neurons.Firing, "sequence", lambda self: self)
    logits, grads = run()
    assert torch.equal(deferred_logits, logits)
    for key, grad in grads.items():
        torch.testing.assert_close(deferred_grads[key], grad, rtol=1e-10, atol=1e-14, msg=key)
