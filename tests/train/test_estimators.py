"""The IW-ST estimator family: forward samples, backward formulas, limits of `iw`."""
import math

import pytest
import torch

from snnc.train import estimators as est
from snnc.train.estimators import ESTIMATORS, firing_probability, spike

NOISES = ("gaussian", "logistic")
# gumbel_rao has a closed form for Gaussian noise only
PAIRS = [(e, n) for e in ESTIMATORS for n in NOISES if not (e == "gumbel_rao" and n == "logistic")]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _grads(estimator, x0, S0, n=4000, seed=0, **kw):
    """(s, dL/du, dL/dS) per draw for L = sum(s), n independent units at u = x0, S = S0."""
    u = torch.full((n,), float(x0), dtype=torch.float64, requires_grad=True)
    S = torch.full((n,), float(S0), dtype=torch.float64, requires_grad=True)
    s = spike(u, 0.0, S, estimator, generator=_gen(seed), **kw)
    s.sum().backward()
    return s.detach(), u.grad, S.grad


def _phi(t):
    return math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


# --- forward -------------------------------------------------------------------

@pytest.mark.parametrize("estimator, noise", PAIRS)
def test_forward_is_hard_sample_with_the_firing_rate(estimator, noise):
    u = torch.tensor([-1.0, -0.2, 0.0, 0.7]).repeat(20000, 1)
    S = torch.tensor([0.5, 1.0, 2.0, 0.3])
    s = spike(u, 0.1, S, estimator, noise=noise, generator=_gen(1))
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    p = firing_probability(u[0], 0.1, S, noise=noise)
    tol = 5 * torch.sqrt(p * (1 - p) / u.shape[0]) + 1e-3
    assert torch.all((s.mean(0) - p).abs() < tol)


def test_firing_probability_closed_forms():
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert torch.allclose(firing_probability(x, 0.0, torch.tensor(2.0)), torch.special.ndtr(x / 2))
    assert torch.allclose(firing_probability(x, 0.0, torch.tensor(2.0), noise="logistic"),
                          torch.sigmoid(x / 2))
    assert torch.equal(firing_probability(x, 0.0, 0), torch.tensor([0.0, 0.0, 1.0]))
    S = torch.tensor([1.0, 0.0, 0.0])
    assert torch.equal(firing_probability(x, 0.0, S)[1:], torch.tensor([0.0, 1.0]))


# --- backward formulas -----------------------------------------------------------

@pytest.mark.parametrize("noise", NOISES)
def test_analytic_equals_autograd_of_firing_probability(noise):
    u = torch.randn(7, 3, dtype=torch.float64, generator=_gen(2), requires_grad=True)
    theta = torch.tensor([0.1, -0.3, 0.5], dtype=torch.float64, requires_grad=True)
    S = torch.tensor([0.4, 1.0, 2.5], dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 3, dtype=torch.float64, generator=_gen(3))
    got = torch.autograd.grad((spike(u, theta, S, "analytic", noise=noise) * w).sum(), (u, theta, S))
    want = torch.autograd.grad((firing_probability(u, theta, S, noise=noise) * w).sum(), (u, theta, S))
    for g, h in zip(got, want):
        assert torch.allclose(g, h, atol=1e-12)


@pytest.mark.parametrize("relaxation", est.RELAXATIONS)
@pytest.mark.parametrize("noise", NOISES)
def test_relaxed_is_derivative_of_relaxation_at_the_sampled_noise(noise, relaxation):
    u = torch.randn(50, dtype=torch.float64, generator=_gen(4), requires_grad=True)
    S = torch.full((50,), 0.8, dtype=torch.float64, requires_grad=True)
    tau = 0.3
    s = spike(u, 0.2, S, "relaxed", tau=tau, noise=noise, generator=_gen(5), relaxation=relaxation)
    gu, gS = torch.autograd.grad(s.sum(), (u, S))
    z = est._draw((50,), u, noise, _gen(5))
    v = u - 0.2 + S * z
    assert torch.equal(s, (v > 0).double())
    ru, rS = torch.autograd.grad(est._kernel_cdf(v / tau, relaxation).sum(), (u, S))
    assert torch.allclose(gu, ru) and torch.allclose(gS, rS)


def test_relaxed_mean_matches_finite_differences_of_smoothed_probability():
    # Gaussian noise relaxed by Phi(./tau): E[D] = d/dx Phi(x/R), R = sqrt(S^2 + tau^2)
    x0, S0, tau, h = 0.4, 0.7, 0.5, 1e-4
    _, gu, gS = _grads("relaxed", x0, S0, n=200000, tau=tau, relaxation="normal")
    R = lambda S: math.sqrt(S * S + tau * tau)
    P = lambda x, S: 0.5 * math.erfc(-x / R(S) / math.sqrt(2))
    assert gu.mean().item() == pytest.approx((P(x0 + h, S0) - P(x0 - h, S0)) / (2 * h), rel=0.02)
    assert gS.mean().item() == pytest.approx((P(x0, S0 + h) - P(x0, S0 - h)) / (2 * h), rel=0.05)


def test_analytic_matches_finite_differences_of_expected_spike():
    x0, S0, h = -0.3, 0.6, 1e-5
    _, gu, gS = _grads("analytic", x0, S0, n=3)
    P = lambda x, S: firing_probability(torch.tensor(x, dtype=torch.float64), 0.0,
                                        torch.tensor(S, dtype=torch.float64)).item()
    assert gu[0].item() == pytest.approx((P(x0 + h, S0) - P(x0 - h, S0)) / (2 * h), rel=1e-6)
    assert gS[0].item() == pytest.approx((P(x0, S0 + h) - P(x0, S0 - h)) / (2 * h), rel=1e-6)


def test_straight_through_and_clipped():
    u = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    S = torch.full((5,), 1.0, requires_grad=True)
    gu, gS = torch.autograd.grad(spike(u, 0.0, S, "st", generator=_gen(6)).sum(), (u, S))
    z = est._draw((5,), u, "gaussian", _gen(6))
    assert torch.equal(gu, torch.ones(5)) and torch.allclose(gS, z)
    gu, gS = torch.autograd.grad(spike(u, 0.0, S, "st_clipped", generator=_gen(6)).sum(), (u, S))
    assert torch.equal(gu, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))
    assert torch.allclose(gS, z * gu)


# --- shapes, broadcasting, theta -------------------------------------------------

@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_broadcasting_and_theta_gradient(estimator):
    u = torch.randn(4, 3, generator=_gen(7), requires_grad=True)
    theta = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    S = torch.full((4, 1), 0.5, requires_grad=True)
    s = spike(u, theta, S, estimator, generator=_gen(8))
    assert s.shape == (4, 3) and s.dtype == u.dtype
    gu, gt, gS = torch.autograd.grad(s.sum(), (u, theta, S))
    assert gu.shape == u.shape and gt.shape == theta.shape and gS.shape == S.shape
    assert torch.allclose(gt, -gu.sum(0))
    assert all(torch.isfinite(g).all() for g in (gu, gt, gS))


def test_no_std_gradient_requested():
    u = torch.randn(10, requires_grad=True)
    for e in ESTIMATORS:
        (g,) = torch.autograd.grad(spike(u, 0.0, torch.tensor(0.5), e).sum(), (u,))
        assert torch.isfinite(g).all()


# --- deterministic mode -----------------------------------------------------------

@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_deterministic_mode(estimator):
    u = torch.tensor([-2.0, -0.3, 0.0, 0.3, 2.0], requires_grad=True)
    s = spike(u, 0.0, 0, estimator, tau=0.4)
    assert torch.equal(s, torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))
    (g,) = torch.autograd.grad(s.sum(), (u,))
    want = {"st": torch.ones(5), "st_clipped": (u.abs() <= 1).float()}.get(
        estimator, torch.exp(-0.5 * (u / 0.4) ** 2) / (0.4 * math.sqrt(2 * math.pi)))
    assert torch.allclose(g, want.detach())


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_zero_elements_of_a_std_tensor_stay_finite(estimator):
    u = torch.tensor([-0.5, 0.0, 0.5, 0.5], requires_grad=True)
    S = torch.tensor([0.0, 0.0, 0.0, 1.0], requires_grad=True)
    s = spike(u, 0.0, S, estimator, generator=_gen(9))
    assert torch.equal(s[:3], torch.tensor([0.0, 0.0, 1.0]))
    gu, gS = torch.autograd.grad(s.sum(), (u, S))
    assert torch.isfinite(gu).all() and torch.isfinite(gS).all()


# --- limits of iw -----------------------------------------------------------------

def test_iw_k1_is_relaxed_at_an_independent_draw():
    x0, S0, tau = -0.6, 1.0, 0.7
    s, gu, gS = _grads("iw", x0, S0, n=100000, k=1, tau=tau, relaxation="normal")
    R = math.sqrt(S0 ** 2 + tau ** 2)
    assert gu.mean().item() == pytest.approx(_phi(x0 / R) / R, rel=0.02)
    assert gS.mean().item() == pytest.approx(-x0 * S0 / R ** 3 * _phi(x0 / R), rel=0.05)
    # independent of the drawn spike: same conditional mean for s = 1 and s = 0
    assert gu[s > 0].mean().item() == pytest.approx(gu[s == 0].mean().item(), rel=0.03)


@pytest.mark.parametrize("x0", [-1.0, 0.3])
def test_iw_small_tau_large_k_approaches_analytic(x0):
    s, gu, gS = _grads("iw", x0, 1.0, n=4000, k=1024, tau=0.02)
    P = 0.5 * math.erfc(-x0 / math.sqrt(2))
    assert gu.mean().item() == pytest.approx(_phi(x0), rel=0.03)
    assert gS.mean().item() == pytest.approx(-x0 * _phi(x0), rel=0.05)
    # conditional on the spike: analytic / (2 P(s)) (the trapezoid weighting)
    assert gu[s > 0].mean().item() == pytest.approx(_phi(x0) / (2 * P), rel=0.03)
    assert gu[s == 0].mean().item() == pytest.approx(_phi(x0) / (2 * (1 - P)), rel=0.03)


@pytest.mark.parametrize("relaxation", est.RELAXATIONS)
@pytest.mark.parametrize("noise", NOISES)
def test_iw_large_tau_is_straight_through_up_to_scale(noise, relaxation):
    tau = 1e3
    f0 = 1 / math.sqrt(2 * math.pi) if relaxation == "normal" else 0.25
    _, gu, _ = _grads("iw", 0.3, 0.5, n=100, k=16, tau=tau, noise=noise, relaxation=relaxation)
    assert torch.allclose(gu * tau / f0, torch.ones_like(gu), atol=1e-4)


def test_iw_sigmoid_k1_is_the_mean_of_relaxed():
    x0, S0, tau = -0.6, 1.0, 0.7
    _, g_iw, gS_iw = _grads("iw", x0, S0, n=200000, k=1, tau=tau)
    _, g_rel, gS_rel = _grads("relaxed", x0, S0, n=200000, tau=tau, seed=1)
    assert g_iw.mean().item() == pytest.approx(g_rel.mean().item(), rel=0.02)
    assert gS_iw.mean().item() == pytest.approx(gS_rel.mean().item(), rel=0.05)


def test_iw_draws_shared_across_the_batch_only():
    x = torch.zeros(6, 5, requires_grad=True)
    S = torch.full((6, 5), 1.0)
    s = spike(x, 0.0, S, "iw", generator=_gen(3))
    (g,) = torch.autograd.grad((s * 0 + 1).sum(), (x,))  # same upstream gradient for all
    same_spike = s == s[0]
    # elements of one column that drew the same spike got the same draws, so the same D
    for col in range(5):
        rows = same_spike[:, col]
        assert torch.allclose(g[rows, col], g[rows, col][0].expand(int(rows.sum())))
    (g_free,) = torch.autograd.grad(spike(x, 0.0, S, "iw", generator=_gen(3), share_draws=False).sum(), (x,))
    assert len(set(g_free[:, 0].tolist())) > 1


def test_iw_weights_are_robust_in_the_far_tail():
    _, gu, gS = _grads("iw", -40.0, 1.0, n=100, k=8, tau=0.1)
    assert torch.isfinite(gu).all() and torch.isfinite(gS).all()


# --- argument errors ----------------------------------------------------------------

@pytest.mark.parametrize("kw, name", [
    ({"estimator": "bogus"}, "estimator"), ({"noise": "uniform"}, "noise"),
    ({"tau": 0.0}, "tau"), ({"k": 0}, "k"), ({"noise_std": -1.0}, "noise_std"),
    ({"relaxation": "tanh"}, "relaxation"), ({"batch_dim": -1}, "batch_dim"),
    ({"estimator": "gumbel_rao", "noise": "logistic"}, "gumbel_rao"),
])
def test_bad_arguments_name_themselves(kw, name):
    args = {"noise_std": 0.5, **kw}
    with pytest.raises(ValueError, match=name):
        spike(torch.zeros(3), 0.0, **args)


def test_iw_batch_dim_out_of_range_is_one_line_error():
    with pytest.raises(ValueError, match="batch_dim must be < 2"):
        spike(torch.zeros(3, 4), 0.0, torch.tensor(0.5), "iw", batch_dim=2)


# --- draw sharing on the batch axis of each layout ------------------------------------

def _iw_grads_of(x, S, **kw):
    """(s, D) of iw for upstream gradient 1 everywhere."""
    x = x.clone().requires_grad_(True)
    s = spike(x, 0.0, S, "iw", generator=_gen(11), **kw)
    (g,) = torch.autograd.grad(s.sum(), (x,))
    return s.detach(), g


def test_binary_sequence_layout_draws_differ_over_time_and_are_shared_over_the_batch():
    # a binary unit sees its whole sequence [T, B, N]: the batch is dim 1
    T, B, N = 5, 6, 4
    x, S = torch.zeros(T, B, N), torch.ones(T, B, N)
    s, g = _iw_grads_of(x, S, batch_dim=1)
    for t in range(T):
        for n in range(N):
            fired = s[t, :, n] > 0  # same input, same spike: same draws -> same D across the batch
            for rows in (fired, ~fired):
                if rows.sum() > 1:
                    assert torch.allclose(g[t, rows, n], g[t, rows, n][:1].expand(int(rows.sum())), rtol=1e-6)
    # over time the same spike sees fresh draws: D differs from step to step
    for n in range(N):
        d_fired = {round(g[t, b, n].item(), 7) for t in range(T) for b in range(B) if s[t, b, n] > 0}
        assert len(d_fired) > 1
    # the old behaviour (batch_dim 0 on [T, B, N]) shared the draws across time instead
    s0, g0 = _iw_grads_of(x, S, batch_dim=0)
    same = (s0[:, 0, 0] > 0)
    assert torch.allclose(g0[same, 0, 0], g0[same, 0, 0][:1].expand(int(same.sum())), rtol=1e-6)


def test_lif_step_layout_shares_draws_across_the_batch_only():
    B, N = 8, 5
    s, g = _iw_grads_of(torch.zeros(B, N), torch.ones(B, N))  # default batch_dim 0
    for n in range(N):
        fired = s[:, n] > 0
        for rows in (fired, ~fired):
            if rows.sum() > 1:
                assert torch.allclose(g[rows, n], g[rows, n][:1].expand(int(rows.sum())), rtol=1e-6)
    # different neurons draw independently
    assert len({round(v, 7) for v in g[s[:, 0] > 0, :].flatten().tolist()}) > 1


# --- sigmoid fast path of iw against the written-out formula ----------------------------

def test_iw_sigmoid_path_matches_the_formula():
    x = torch.randn(4, 3, dtype=torch.float64, generator=_gen(12))
    S = torch.rand(4, 3, dtype=torch.float64, generator=_gen(13)) + 0.2
    s = (torch.rand(4, 3, generator=_gen(14)) < 0.5).double()
    tau, k = 0.3, 5
    D, D_S = est._iw_derivatives(x, S, s, tau, k, "gaussian", _gen(15), "sigmoid", share_draws=False)
    zk = torch.randn((k, 4, 3), generator=_gen(15), dtype=torch.float64)
    t = (x + S * zk) / tau
    w = torch.sigmoid((2 * s - 1) * t)
    f = torch.sigmoid(t) * (1 - torch.sigmoid(t)) / tau
    assert torch.allclose(D, (w * f).sum(0) / w.sum(0))
    assert torch.allclose(D_S, (w * f * zk).sum(0) / w.sum(0))


# --- variance input ------------------------------------------------------------------------

@pytest.mark.parametrize("estimator, noise", PAIRS)
def test_spike_var_is_spike_of_the_square_root(estimator, noise):
    u = torch.randn(6, 5, dtype=torch.float64, generator=_gen(16), requires_grad=True)
    V = (torch.rand(6, 5, dtype=torch.float64, generator=_gen(17)) + 0.1).requires_grad_(True)
    w = torch.randn(6, 5, dtype=torch.float64, generator=_gen(18))
    kw = dict(noise=noise, tau=0.4, k=4)
    s1 = est.spike_var(u, 0.1, V, estimator, generator=_gen(19), **kw)
    s2 = spike(u, 0.1, V.sqrt(), estimator, generator=_gen(19), **kw)
    assert torch.equal(s1, s2)
    g1 = torch.autograd.grad((s1 * w).sum(), (u, V))
    g2 = torch.autograd.grad((s2 * w).sum(), (u, V))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_spike_var_zero_variance_has_zero_variance_gradient(estimator):
    u = torch.tensor([-0.5, 0.2, 0.5], requires_grad=True)
    V = torch.tensor([0.0, 0.0, 1.0], requires_grad=True)
    s = est.spike_var(u, 0.0, V, estimator, generator=_gen(20))
    assert torch.equal(s[:2], torch.tensor([0.0, 1.0]))
    gu, gV = torch.autograd.grad(s.sum(), (u, V))
    assert torch.isfinite(gu).all() and torch.equal(gV[:2], torch.zeros(2))
    assert torch.equal(est.spike_var(u, 0.0, 0, estimator), torch.tensor([0.0, 1.0, 1.0]))


# --- gumbel_rao: the closed form of E[phi_tau(v)/tau | s] ------------------------------------

@pytest.mark.parametrize("x0, S0, tau", [(-0.6, 1.0, 0.5), (0.3, 0.7, 0.2), (1.5, 0.5, 1.0)])
def test_gumbel_rao_is_the_conditional_mean_of_the_relaxed_derivative(x0, S0, tau):
    n = 400000
    z = torch.randn(n, dtype=torch.float64, generator=_gen(21))
    v = x0 + S0 * z
    f = torch.exp(-0.5 * (v / tau) ** 2) / (tau * math.sqrt(2 * math.pi))
    x = torch.full((2,), x0, dtype=torch.float64)
    S = torch.full((2,), S0, dtype=torch.float64)
    D, D_S = est._gumbel_rao_derivatives(x, S, torch.tensor([1.0, 0.0], dtype=torch.float64), tau)
    for i, fired in enumerate((v > 0, v <= 0)):
        assert D[i].item() == pytest.approx(f[fired].mean().item(), rel=0.01)
        assert D_S[i].item() == pytest.approx((f * z)[fired].mean().item(), rel=0.02, abs=1e-3)


def test_gumbel_rao_is_unbiased_for_the_smoothed_probability_and_tends_to_analytic():
    x0, S0, tau = -0.4, 0.8, 0.6
    x = torch.full((2,), x0, dtype=torch.float64)
    S = torch.full((2,), S0, dtype=torch.float64)
    D, D_S = est._gumbel_rao_derivatives(x, S, torch.tensor([1.0, 0.0], dtype=torch.float64), tau)
    R = math.sqrt(S0 ** 2 + tau ** 2)
    P = 0.5 * math.erfc(-x0 / S0 / math.sqrt(2))
    assert (P * D[0] + (1 - P) * D[1]).item() == pytest.approx(_phi(x0 / R) / R, rel=1e-9)
    assert (P * D_S[0] + (1 - P) * D_S[1]).item() == pytest.approx(-x0 * S0 / R ** 3 * _phi(x0 / R), rel=1e-9)
    D0, _ = est._gumbel_rao_derivatives(x, S, torch.tensor([1.0, 0.0], dtype=torch.float64), 1e-6)
    want = _phi(x0 / S0) / S0
    assert D0[0].item() == pytest.approx(want / (2 * P), rel=1e-4)
    assert D0[1].item() == pytest.approx(want / (2 * (1 - P)), rel=1e-4)


def test_gumbel_rao_is_finite_in_both_tails():
    x = torch.tensor([-60.0, -60.0, 60.0, 60.0])
    S = torch.ones(4)
    D, D_S = est._gumbel_rao_derivatives(x, S, torch.tensor([1.0, 0.0, 1.0, 0.0]), 0.3)
    assert torch.isfinite(D).all() and torch.isfinite(D_S).all()
    assert D[0] > 0 and D[3] > 0  # an improbable spike still gets a (finite) gradient


def test_every_estimator_has_a_paper_name():
    assert set(est.PAPER_NAMES) == set(ESTIMATORS)


def test_binary_neuron_passes_its_batch_axis():
    from snnc.train.neurons import BinaryNeuron, Firing, run_neuron

    torch.manual_seed(0)
    T, B, N = 6, 5, 3
    mu = torch.zeros(T, B, N, requires_grad=True)
    var = torch.ones(T, B, 1)  # per-layer posterior: var has a singleton feature axis
    s, _ = run_neuron(BinaryNeuron(Firing(estimator="iw", margins=False)), mu, var)
    (g,) = torch.autograd.grad(s.sum(), (mu,))
    for t in range(T):
        for n in range(N):
            fired = s[t, :, n] > 0
            for rows in (fired, ~fired):
                if rows.sum() > 1:
                    assert torch.allclose(g[t, rows, n], g[t, rows, n][:1].expand(int(rows.sum())), rtol=1e-6)
    assert len({round(g[t, b, 0].item(), 7) for t in range(T) for b in range(B) if s[t, b, 0] > 0}) > 1


def test_gumbel_rao_hard_coded_values_at_the_threshold():
    # x = 0, S = 1, tau = 1: R = sqrt(2), a = 0, so D = phi(0)/sqrt(2) and D_S = 1/(2 pi)
    D, D_S = est._gumbel_rao_derivatives(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64),
                                         torch.tensor([1.0, 0.0], dtype=torch.float64), 1.0)
    assert torch.allclose(D, torch.full((2,), 0.28209479177387814, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(D_S, torch.tensor([1, -1], dtype=torch.float64) / (2 * math.pi), atol=1e-15)
