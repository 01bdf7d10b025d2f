"""Chip options of the LIF neuron and readout: hard-coded sequences, the float32
simulator the compiler runs, and the unchanged one-state, one-spike path."""
import math

import numpy as np
import pytest
import torch

from snnc.errors import ConfigError
from snnc.train import config as config_mod
from snnc.train.config import ModelConfig
from snnc.train.models import build_model, set_deterministic
from snnc.train.net_base import readout_weights, time_average
from snnc.train.neurons import (Firing, LIFNeuron, LIFParams, LIFState, RecurrentLIF, lif_step,
                                run_neuron)


def _trace(inputs, reset, *, beta=0.5, syn_beta=0.5, max_spikes=3, theta=1.0):
    params = LIFParams(beta, theta, reset, syn_beta, max_spikes)
    state = LIFNeuron(Firing(), syn_beta=syn_beta).init_state(torch.zeros(1))
    spikes, mems, curs = [], [], []
    for x in inputs:
        s, state, _ = lif_step(torch.tensor([x]), torch.zeros(1), state, params, Firing(deterministic=True))
        spikes.append(float(s))
        mems.append(float(state.mem))
        curs.append(float(state.cur))
    return spikes, mems, curs


def test_cuba_multi_spike_soft_reset_sequence():
    # c = 0.5 (c + x); u = 0.5 u + c; n = #{k <= 3 : u > k}; u -= n
    # t0: c 1, u 1 (not > 1); t1: c 2.5, u 3 -> 2 spikes, 1; t2: c 1.25, u 1.75 -> 1, 0.75
    # t3: c 0.625, u 1.0 -> 0; t4: c 4.3125, u 4.8125 -> 3 (capped), 1.8125
    spikes, mems, curs = _trace([2.0, 4.0, 0.0, 0.0, 8.0], "soft")
    assert spikes == [0, 2, 1, 0, 3]
    assert mems == [1.0, 1.0, 0.75, 1.0, 1.8125]
    assert curs == [1.0, 2.5, 1.25, 0.625, 4.3125]


def test_cuba_multi_spike_zero_reset_sequence():
    # the zero reset clears u only (Loihi's u, Xylo's i_syn keep their value)
    spikes, mems, curs = _trace([2.0, 4.0, 0.0, 0.0, 8.0], "zero")
    assert spikes == [0, 2, 1, 0, 3]
    assert mems == [1.0, 0.0, 0.0, 0.625, 0.0]
    assert curs == [1.0, 2.5, 1.25, 0.625, 4.3125]


def test_cuba_noise_variance_recursion():
    params = LIFParams(0.5, 100.0, "soft", 0.5, 1)  # never fires
    state = LIFNeuron(Firing(), syn_beta=0.5).init_state(torch.zeros(1))
    c = v = 0.0
    for var in [1.0, 2.0, 0.5]:
        _, state, _ = lif_step(torch.zeros(1), torch.tensor([var]), state, params, Firing())
        c = 0.25 * (c + var)
        v = 0.25 * v + c
        assert float(state.cur_var) == pytest.approx(c) and float(state.var) == pytest.approx(v)


def test_extra_spikes_are_straight_through():
    mu = torch.tensor([0.5, 1.5, 2.5, 9.0], requires_grad=True)
    fire = Firing(deterministic=True)
    one, _, _ = lif_step(mu, torch.zeros(4), LIFState(torch.zeros(4), torch.zeros(4)),
                         LIFParams(1.0, 1.0, "soft"), fire)
    many, _, _ = lif_step(mu, torch.zeros(4), LIFState(torch.zeros(4), torch.zeros(4)),
                          LIFParams(1.0, 1.0, "soft", 0.0, 4), fire)
    assert many.tolist() == [0, 1, 2, 4]
    g_one, = torch.autograd.grad(one.sum(), mu)
    g_many, = torch.autograd.grad(many.sum(), mu)
    assert torch.equal(g_one, g_many)


def _old_lif_step(mu, var, state, params, fire):
    """lif_step as it was before the chip options (kept here as the reference)."""
    mem = params.beta * state.mem + mu
    V = params.beta ** 2 * state.var + var
    s, margin = fire(mem, V, params.theta)
    r = s.detach()
    if params.reset == "soft":
        mem = mem - params.theta * r
    else:
        mem, V = mem * (1.0 - r), V * (1.0 - r)
    return s, LIFState(mem, V), margin


@pytest.mark.parametrize("reset", ["soft", "zero"])
def test_one_spike_one_state_path_is_unchanged(reset):
    seed = 1234
    mu = (torch.randn(6, 32, 20, generator=torch.Generator().manual_seed(seed)) + 0.5).requires_grad_()
    var = torch.rand(6, 32, 1, generator=torch.Generator().manual_seed(seed + 1)) * 0.3
    params = LIFParams(0.9, 1.0, reset)
    results = []
    for step in (lif_step, _old_lif_step):
        torch.manual_seed(seed)  # the same noise draws for both
        state, out = LIFState(torch.zeros(32, 20), torch.zeros(32, 20)), []
        for t in range(6):
            s, state, _ = step(mu[t], var[t], state, params, Firing(estimator="analytic"))
            out.append(s)
        out = torch.stack(out)
        results.append((out.detach(), state.mem.detach(), torch.autograd.grad((out * mu).sum(), mu)[0]))
    assert all(torch.equal(a, b) for a, b in zip(*results)), f"seed {seed}"
    assert LIFNeuron(Firing()).init_state(torch.zeros(2)).cur is None


def _float32_simulator(a, beta, alpha, theta, max_spikes, soft, rec=None):
    """The compiler's float32 step, per the IR: i = alpha i + a_in; v = beta v + i;
    n = count(v); reset. Xylo's order c = alpha (c + x) is this with a_in = alpha x
    (exact in float32 for alpha = 1/2)."""
    f32 = np.float32
    T, B, N = a.shape
    i, v, s = np.zeros((B, N), f32), np.zeros((B, N), f32), np.zeros((B, N), f32)
    out = np.zeros_like(a)
    for t in range(T):
        x = a[t] if rec is None else (a[t] + (s @ rec.T).astype(f32)).astype(f32)
        a_in = (f32(alpha) * x).astype(f32) if alpha > 0 else x
        i = (f32(alpha) * i + a_in).astype(f32)
        v = (f32(beta) * v + i).astype(f32)
        extra = np.clip(np.ceil((v / f32(theta)).astype(f32)) - 2, 0, max_spikes - 1)
        s = np.where(v > f32(theta), 1 + extra, 0).astype(f32)
        v = (v - (f32(theta) * s).astype(f32)).astype(f32) if soft else np.where(s > 0, f32(0), v)
        out[t] = s
    return out


@pytest.mark.parametrize("beta,syn_beta,max_spikes,reset", [(0.875, 0.0, 1, "zero"), (0.75, 0.5, 31, "soft"),
                                                            (0.9375, 0.0, 31, "soft")])
def test_deterministic_forward_equals_the_float32_simulator(beta, syn_beta, max_spikes, reset):
    seed = 7
    mu = torch.randn(8, 16, 40, generator=torch.Generator().manual_seed(seed)) * 2.0
    neuron = LIFNeuron(Firing(deterministic=True), theta=1.0, reset=reset, beta=beta, syn_beta=syn_beta,
                       max_spikes=max_spikes)
    spikes, _ = run_neuron(neuron, mu, torch.zeros(8, 16, 1))
    expect = _float32_simulator(mu.numpy(), beta, syn_beta, 1.0, max_spikes, reset == "soft")
    assert np.array_equal(spikes.numpy(), expect), f"seed {seed}"
    if max_spikes > 1:
        assert spikes.max() > 1  # the test exercised multi-spike output


def test_recurrent_input_goes_through_the_current():
    seed = 3
    torch.manual_seed(seed)
    layer = RecurrentLIF(12, LIFNeuron(Firing(deterministic=True), beta=0.75, syn_beta=0.5, max_spikes=31),
                         sigma_init=0.5)
    with torch.no_grad():
        layer.rec.weight.mul_(3.0)
        mu = torch.randn(8, 5, 12) * 3.0
        spikes, _ = layer.run(mu, torch.zeros(8, 5, 1))
    expect = _float32_simulator(mu.numpy(), 0.75, 0.5, 1.0, 31, True, rec=layer.rec.weight.detach().numpy())
    assert np.array_equal(spikes.numpy(), expect), f"seed {seed}"


def test_recurrent_variance_uses_squared_counts():
    layer = RecurrentLIF(4, LIFNeuron(Firing(), max_spikes=5), sigma_init=1.0)
    s = torch.tensor([[0.0, 1.0, 3.0, 2.0]])
    fast, slow = layer.rec_moments()(s), layer.rec(s)
    assert torch.allclose(fast[1], slow[1])
    assert float(fast[1].detach() / layer.rec.posterior_std.detach() ** 2) == pytest.approx(14.0)  # 1 + 9 + 4


def test_cuba_readout_weights_follow_the_recursion():
    a, T = 0.5, 6
    x = torch.rand(T, 3, 4, generator=torch.Generator().manual_seed(0))
    i = y = torch.zeros(3, 4, dtype=torch.float64)
    for t in range(T):  # Xylo's output neuron, dash_syn_out = 1, no membrane decay
        i = a * (i + x[t].double())
        y = y + i
    w = readout_weights(T, "cuba", alpha=a)
    direct = torch.tensor([a * (1 - a ** (T - t)) / (1 - a) for t in range(T)], dtype=torch.float64)
    assert w.dtype == torch.float32 and float(w.sum()) == pytest.approx(1.0)
    assert torch.allclose(w.double(), direct / direct.sum(), atol=1e-7)
    assert torch.allclose(time_average(x, "cuba", alpha=a).double(), y / direct.sum(), atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        readout_weights(T, "cuba", alpha=1.0)


def test_model_options_reach_neurons_layers_and_readout():
    cfg = ModelConfig(hidden=[10], beta=0.875, syn_beta=0.5, max_spikes=31, bias=False, readout="cuba",
                      readout_alpha=0.25)
    model = build_model(cfg, (8, 8), 8, Firing())
    p = model.neurons[0].params
    assert (p.beta, p.syn_beta, p.max_spikes) == (0.875, 0.5, 31)
    assert model.fcs[0].bias is None and model.readout.fc.bias is not None
    assert model.readout.alpha == 0.25
    assert not any(k.startswith("fcs.") and k.endswith(".bias") for k in model.state_dict())
    set_deterministic(model, True)
    assert model(torch.rand(2, 8, 8) * 4).logits.shape == (2, 8)
    default = build_model(ModelConfig(hidden=[10], tau_mem=4.0), (8, 8), 8, Firing())
    assert default.neurons[0].params.beta == pytest.approx(math.exp(-0.25))


@pytest.mark.parametrize("section,key,value,needle", [
    ("model", "beta", 1.5, "model.beta: must be in [0, 1]"),
    ("model", "syn_beta", 1.0, "model.syn_beta: must be in [0, 1)"),
    ("model", "max_spikes", 32, "model.max_spikes: must be in 1..31"),
    ("model", "readout_alpha", 0.0, "model.readout_alpha: must be in (0, 1)"),
    ("model", "readout", "sum", "model.readout:"),
    ("model", "bias", 1, "model.bias: expected bool"),
    ("data", "max_count", 0, "data.max_count: must be >= 1"),
    ("data", "classes", [1, 1], "data.classes: needs distinct labels"),
    ("data", "classes", [-1], "data.classes: must be >= 0"),
])
def test_chip_options_reject_bad_values_in_one_line(section, key, value, needle):
    raw = {"data": {"name": "digits-seq"}, "model": {}}
    raw[section][key] = value
    with pytest.raises(ConfigError) as err:
        config_mod.from_dict(raw)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_lif_only_options_and_max_count_name_their_key():
    with pytest.raises(ConfigError, match="model.max_spikes: needs neuron = 'lif'"):
        config_mod.from_dict({"model": {"neuron": "binary", "max_spikes": 2}})
    with pytest.raises(ConfigError, match="model.syn_beta: needs neuron = 'lif'"):
        config_mod.from_dict({"model": {"neuron": "binary", "syn_beta": 0.5}})
    with pytest.raises(ConfigError, match="data.max_count: only digits-seq"):
        config_mod.from_dict({"data": {"name": "digits", "max_count": 15}})
    cfg = config_mod.from_dict({"model": {"beta": 1, "syn_beta": 0.5}})
    assert cfg.model.beta == 1.0 and isinstance(cfg.model.beta, float)


def test_sg_twin_follows_beta_and_refuses_what_snntorch_lacks():
    from snnc.train.sg import build_sg_model

    sg = build_sg_model(ModelConfig(hidden=[6], beta=0.875, bias=False, readout="cuba"), (4, 8), 3)
    assert float(sg.neurons[0].lif.beta) == 0.875 and sg.fcs[0].bias is None
    assert sg(torch.rand(2, 4, 8)).logits.shape == (2, 3)
    with pytest.raises(ConfigError, match="model.syn_beta"):
        build_sg_model(ModelConfig(syn_beta=0.5), (4, 8), 3)
    with pytest.raises(ConfigError, match="model.max_spikes"):
        build_sg_model(ModelConfig(max_spikes=2), (4, 8), 3)
    with pytest.raises(ConfigError, match="model.syn_beta: the SG net"):  # before any training
        config_mod.from_dict({"model": {"syn_beta": 0.5}, "baseline": {"sg": True}})


def test_srnn_step_affine_scales_the_summed_current_as_the_authors_shd_net():
    """train_shd.py: u_t = beta u + (W x_t + (R * mask) s_{t-1}) * a_t + b_t, soft reset."""
    seed = 5
    torch.manual_seed(seed)
    cfg = ModelConfig(name="srnn", hidden=[10], affine="step", self_connections=False, tau_mem=10.0)
    model = build_model(cfg, (6, 7), 3, Firing())
    layer = model.neurons[0]
    with torch.no_grad():
        layer.affine.scale.uniform_(0.5, 2.0)
        layer.affine.bias.normal_(0.0, 0.3)
        layer.rec.weight.normal_(0.0, 0.8)  # the mask must hide the diagonal drawn here
    set_deterministic(model, True)
    x = torch.rand(4, 6, 7) * 2
    with torch.no_grad():
        ff = model.fcs[0](x.transpose(0, 1))[0]
        ours, _ = run_neuron(layer, ff, torch.zeros(6, 4, 1))
    W_rec = layer.rec.weight.detach() * (1 - torch.eye(10))
    beta, u, s, expect = math.exp(-0.1), torch.zeros(4, 10), torch.zeros(4, 10), []
    for t in range(6):
        u = beta * u + (ff[t] + s @ W_rec.T) * layer.affine.scale[t].detach() + layer.affine.bias[t].detach()
        s = (u > 1.0).float()
        u = u - s
        expect.append(s)
    assert ours.sum() > 0 and torch.equal(ours, torch.stack(expect)), f"seed {seed}"


def test_learnable_bias_noise_has_gradients_in_every_hidden_layer():
    torch.manual_seed(0)
    cfg = ModelConfig(name="srnn", hidden=[8, 6], bias_noise=0.13, self_connections=False, affine="step")
    model = build_model(cfg, (5, 4), 3, Firing(estimator="analytic"))
    out = model(torch.rand(6, 5, 4) * 2)
    (torch.nn.functional.cross_entropy(out.logits, torch.arange(6) % 3) + out.margin_penalty).backward()
    noisy = {n: p for n, p in model.named_parameters() if n.endswith("bias_rho")}
    assert sorted(noisy) == ["fcs.0.bias_rho", "fcs.1.bias_rho"]  # hidden layers only
    assert all(p.grad is not None and float(p.grad) != 0.0 for p in noisy.values())
    assert float(model.fcs[0].bias_std.detach()) == pytest.approx(0.13, rel=1e-4)


def test_chip_configs_keep_their_options_and_shd_sets_the_authors():
    from pathlib import Path

    configs = Path(__file__).resolve().parents[2] / "configs"
    shd = config_mod.load(configs / "shd_sbnn.toml").model
    assert (shd.affine, shd.self_connections) == ("step", False) and shd.bias_noise > 0
    assert config_mod.load(configs / "dvs_sbnn.toml").model.widths == [32, 64, 128]
    for name in ("digits_loihi", "digits_seq_xylo"):  # the configs the compiler reads
        assert config_mod.load(configs / f"{name}.toml").model.affine == "none"
