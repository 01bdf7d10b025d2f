"""Neurons (hard-coded sequences), models (shapes, gradients, init), the SG twin built from
the same definition, and the model options (affines, BatchNorm, self-connections)."""
import math

import pytest
import torch

from snnc.train.config import ModelConfig
from snnc.train.bayes import bayes_layers, sampled_states
from snnc.train.models import MLP, ChannelAffine, SBNNParts, StepAffine, build_model, set_deterministic
from snnc.train.net_base import readout_weights, time_average
from snnc.train.resnet import ResNet
from snnc.train.neurons import (BinaryNeuron, Firing, LIFNeuron, LIFParams, LIFState, Recurrent,
                                lif_step, run_neuron)
from snnc.train.sg import SGNeuron, StepBatchNorm, build_sg_model


def _lif_trace(reset, inputs, beta=0.5, theta=1.0):
    fire = Firing(deterministic=True)
    state = LIFState(torch.zeros(1), torch.zeros(1))
    spikes, mems = [], []
    for x in inputs:
        s, state, margin = lif_step(torch.tensor([x]), torch.zeros(1), state,
                                    LIFParams(beta, theta, reset), fire)
        assert margin is None
        spikes.append(float(s))
        mems.append(round(float(state.mem), 6))
    return spikes, mems


def test_lif_soft_reset_sequence():
    # u: 0.8, 1.2 -> fire -> 0.2, 0.1+0.8=0.9, 0.45+0.9=1.35 -> fire -> 0.35
    assert _lif_trace("soft", [0.8, 0.8, 0.8, 0.9]) == ([0, 1, 0, 1], [0.8, 0.2, 0.9, 0.35])


def test_lif_zero_reset_sequence():
    assert _lif_trace("zero", [0.8, 0.8, 0.8, 0.9]) == ([0, 1, 0, 1], [0.8, 0.0, 0.8, 0.0])


def test_lif_noise_variance_is_carried_with_beta_squared():
    fire = Firing(estimator="analytic")
    params = LIFParams(0.5, 100.0, "soft")  # never fires
    state = LIFState(torch.zeros(1), torch.zeros(1))
    expected = 0.0
    for v in [1.0, 2.0, 0.5]:
        _, state, _ = lif_step(torch.zeros(1), torch.tensor([v]), state, params, fire)
        expected = 0.25 * expected + v
        assert float(state.var) == pytest.approx(expected)


def test_binary_neuron_fires_above_threshold_deterministically():
    n = BinaryNeuron(Firing(deterministic=True), theta=0.0)
    s, bias = run_neuron(n, torch.tensor([[-0.5, 0.0, 0.3]]), torch.ones(1, 3))
    assert s.tolist() == [[0.0, 0.0, 1.0]] and bias is None


def test_noisy_unit_fires_with_probability_phi():
    torch.manual_seed(0)
    n = BinaryNeuron(Firing(), theta=0.0)
    mu = torch.full((1, 20000), 0.5)
    s, bias = run_neuron(n, mu, torch.ones(1, 20000))
    assert s.mean().item() == pytest.approx(0.5 * (1 + math.erf(0.5 / math.sqrt(2))), abs=0.015)
    assert bias.item() == pytest.approx(0.25)


def _cfg(**kw):
    cfg = ModelConfig()
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


MODELS = [
    (_cfg(name="mlp", hidden=[16]), (4, 64)),
    (_cfg(name="mlp", neuron="binary", theta=0.0, hidden=[16, 8]), (1, 64)),
    (_cfg(name="srnn", hidden=[12, 10]), (5, 8)),
    (_cfg(name="srnn", hidden=[6], readout="leaky", tau_mem=1.0), (8, 8)),
    (_cfg(name="resnet", neuron="binary", theta=0.0, widths=[4, 8], blocks=[1, 1],
          image_shape=[1, 8, 8]), (2, 64)),
    (_cfg(name="resnet", neuron="lif", widths=[4], blocks=[1]), (3, 2, 6, 6)),
]


@pytest.mark.parametrize("cfg,in_shape", MODELS)
def test_sbnn_models_shapes_and_gradients(cfg, in_shape):
    torch.manual_seed(0)
    model = build_model(cfg, in_shape, 10, Firing(estimator="iw", k=2))
    out = model(torch.rand(3, *in_shape))
    assert out.logits.shape == (3, 10) and out.margin_penalty.ndim == 0
    assert ((out.rates >= 0) & (out.rates <= 1)).all()
    (out.logits.sum() + out.margin_penalty + out.rates.sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize("cfg,in_shape", MODELS)
def test_sg_twin_shapes_and_gradients(cfg, in_shape):
    model = build_sg_model(cfg, in_shape, 10)
    out = model(torch.rand(3, *in_shape))
    assert out.logits.shape == (3, 10)
    out.logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_deterministic_mode_is_reproducible_and_has_no_margin_term():
    model = build_model(_cfg(hidden=[16]), (4, 64), 10, Firing())
    x = torch.rand(2, 4, 64)
    set_deterministic(model, True)
    a, b = model(x), model(x)
    assert torch.equal(a.logits, b.logits) and float(a.margin_penalty) == 0.0
    set_deterministic(model, False)
    assert not torch.equal(model(x).logits, a.logits)


def test_resnet_depth_counts_conv_layers():
    model = ResNet((1, 8, 8), [16, 32, 64], [4, 3, 3], 10, 1, SBNNParts(_cfg(neuron="binary"), Firing()))
    assert model.n_conv_layers == 21
    assert sum(1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)) == 0


def test_noise_aware_init_sets_snr_and_authors_init_does_not():
    aware = build_model(_cfg(hidden=[256], snr=4.0), (1, 256), 10, Firing())
    assert aware.fcs[0].mean_snr() == pytest.approx(4.0, rel=0.1)
    authors = build_model(_cfg(hidden=[256], init="authors"), (1, 256), 10, Firing())
    assert authors.fcs[0].mean_snr() == pytest.approx(1 / math.sqrt(3) / 0.5, rel=0.1)


def test_scale_input_layer_keeps_snr():
    model = build_model(_cfg(hidden=[64]), (1, 64), 10, Firing())
    before = model.fcs[0].mean_snr()
    model.scale_input_layer(0.25)
    assert model.fcs[0].mean_snr() == pytest.approx(before, rel=1e-3)


def test_readout_weights_mean_and_leaky():
    assert torch.allclose(readout_weights(4, "mean"), torch.full((4,), 0.25))
    w = readout_weights(3, "leaky", tau=1.0)
    b = math.exp(-1.0)
    assert torch.allclose(w, torch.tensor([b * b, b, 1.0]) / (1 + b + b * b))
    x = torch.rand(3, 2, 5)
    # the last-step membrane of y_t = b y_{t-1} + x_t, normalised
    y = torch.zeros(2, 5)
    for t in range(3):
        y = b * y + x[t]
    assert torch.allclose(time_average(x, "leaky", 1.0), y / (1 + b + b * b), atol=1e-6)
    with pytest.raises(ValueError):
        readout_weights(3, "max")


@pytest.mark.parametrize("no_diagonal", [False, True])
def test_recurrent_shortcut_moments_equal_the_bayes_layer_on_spikes(no_diagonal):
    from snnc.train.neurons import RecurrentLIF

    layer = RecurrentLIF(6, LIFNeuron(Firing()), sigma_init=1.0, no_diagonal=no_diagonal)
    s = (torch.rand(4, 6) > 0.5).float()
    fast, slow = layer.rec_moments()(s), layer.rec(s)
    assert torch.allclose(fast[0], slow[0]) and torch.allclose(fast[1], slow[1])


def test_noise_std_gradient_is_finite_at_zero_variance():
    from snnc.train.neurons import noise_std

    var = torch.tensor([0.0, 4.0], requires_grad=True)
    noise_std(var).sum().backward()
    assert var.grad.tolist() == [0.0, 0.25]


# --- one architecture for SBNN and SG ------------------------------------------------

OPTIONS = MODELS + [
    (_cfg(name="srnn", hidden=[7, 5], affine="step", self_connections=False, bias_noise=0.1), (6, 9)),
    (_cfg(name="mlp", hidden=[8], affine="channel_positive"), (3, 12)),
    (_cfg(name="resnet", neuron="lif", widths=[4, 8], blocks=[1, 1], affine="channel_positive",
          bias_noise=0.2), (2, 2, 6, 6)),
]
POSTERIOR_ONLY = ("rho", "bias_rho")


@pytest.mark.parametrize("cfg,in_shape", OPTIONS)
def test_sbnn_and_sg_come_from_one_definition(cfg, in_shape):
    sbnn = build_model(cfg, in_shape, 10, Firing())
    sg = build_sg_model(cfg, in_shape, 10)
    ours = {n: p.shape for n, p in sbnn.named_parameters() if n.rsplit(".", 1)[-1] not in POSTERIOR_ONLY}
    assert ours == {n: p.shape for n, p in sg.named_parameters()}
    assert [type(m).__name__ for m in sbnn.modules() if isinstance(m, (MLP, ResNet))] == \
           [type(m).__name__ for m in sg.modules() if isinstance(m, (MLP, ResNet))]
    # the posterior adds exactly one std per Bayesian layer (per-layer posterior)
    assert sum(n.endswith(".rho") for n, _ in sbnn.named_parameters()) == len(bayes_layers(sbnn))


def test_margin_penalty_is_zero_for_sg_and_the_loop_is_shared():
    sg = build_sg_model(_cfg(name="srnn", hidden=[6]), (4, 5), 3)
    out = sg(torch.rand(2, 4, 5))
    assert float(out.margin_penalty) == 0.0 and out.rates.shape == (1,)
    assert isinstance(sg.neurons[0], Recurrent) and isinstance(sg.neurons[0].neuron, SGNeuron)


def test_sg_recurrent_loop_equals_snntorch_rleaky():
    """Implementation A (Leaky + R s in the shared loop) against B (snnTorch's RLeaky)."""
    import snntorch as snn

    seed = 11
    torch.manual_seed(seed)
    sg = build_sg_model(_cfg(name="srnn", hidden=[9], tau_mem=4.0), (12, 5), 3)
    layer = sg.neurons[0]
    rleaky = snn.RLeaky(beta=math.exp(-0.25), linear_features=9, threshold=1.0, reset_mechanism="subtract")
    with torch.no_grad():
        layer.rec.weight.mul_(4.0)
        rleaky.recurrent.weight.copy_(layer.rec.weight)
        rleaky.recurrent.bias.zero_()
    cur = torch.randn(12, 4, 9) * 1.5
    with torch.no_grad():
        ours, _ = run_neuron(layer, cur)
        spk, mem, theirs = torch.zeros(4, 9), torch.zeros(4, 9), []
        for c in cur:
            spk, mem = rleaky(c, spk, mem)
            theirs.append(spk)
    assert ours.sum() > 0 and torch.equal(ours, torch.stack(theirs)), f"seed {seed}"


def _separable(in_shape, n=96, classes=3, seed=0):
    """A task a few steps of Adam learn: class c drives its own third of the inputs."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    features = math.prod(in_shape[1:])
    x = torch.rand(n, in_shape[0], features, generator=gen) * 0.3
    block = features // classes
    for c in range(classes):
        x[y == c, :, c * block:(c + 1) * block] += 1.0
    return x.reshape(n, *in_shape), y


SG_NETS = [
    ({"name": "mlp", "hidden": [32]}, (6, 12)),
    ({"name": "srnn", "hidden": [24], "self_connections": False}, (6, 12)),
    ({"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [4, 8], "blocks": [1, 1],
      "image_shape": [1, 4, 3], "affine": "step"}, (1, 12)),
]


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("model,in_shape", SG_NETS)
def test_sg_method_trains_every_architecture(model, in_shape, batchnorm):
    from snnc.train import config as config_mod
    from snnc.train.build import make_model

    cfg = config_mod.from_dict({"model": model, "method": {"name": "sg", "batchnorm": batchnorm,
                                                            "surrogate_width": 0.5}})
    torch.manual_seed(0)
    net = make_model(cfg, in_shape, 3)
    assert any(isinstance(m, StepBatchNorm) for m in net.modules()) == batchnorm
    x, y = _separable(in_shape)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(net(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    net.eval()
    with torch.no_grad():
        acc = float((net(x).logits.argmax(1) == y).float().mean())
    assert losses[-1] < 0.6 * losses[0] and acc >= 0.9, (losses[0], losses[-1], acc)


def test_surrogate_width_reaches_the_gradient_not_the_forward():
    cfg = _cfg(name="mlp", hidden=[16])
    x = torch.rand(4, 5, 10) * 2
    grads, logits = [], []
    for width in (0.2, 1.0):
        torch.manual_seed(0)
        net = build_sg_model(cfg, (5, 10), 3, width=width)
        out = net(x).logits
        out.sum().backward()
        logits.append(out.detach())
        grads.append(net.fcs[0].weight.grad.clone())
    assert torch.equal(logits[0], logits[1]) and not torch.allclose(grads[0], grads[1])


def test_batchnorm_normalises_each_step_with_its_own_statistics():
    bn = StepBatchNorm(3, 4, spatial=False)
    mu = torch.randn(3, 64, 4) * torch.tensor([1.0, 5.0, 0.2])[:, None, None] + torch.tensor([0.0, 3.0, -2.0])[:, None, None]
    out, var = bn(mu)
    assert var is None and out.shape == mu.shape
    assert torch.allclose(out.mean(1), torch.zeros(3, 4), atol=1e-5)
    assert torch.allclose(out.var(1, unbiased=False), torch.ones(3, 4), atol=1e-3)
    means = torch.stack([b.running_mean for b in bn.bn])
    assert torch.allclose(means, 0.1 * mu.mean(1), atol=1e-5)  # one running mean per step


def test_channel_positive_scale_stays_positive_and_constant_over_time():
    affine = ChannelAffine(5, 3)
    assert torch.allclose(affine.scale, torch.ones(3))
    opt = torch.optim.SGD(affine.parameters(), lr=10.0)
    mu = torch.ones(5, 2, 3)
    for _ in range(20):  # a loss that wants a negative gain
        out, _ = affine(mu, None)
        opt.zero_grad()
        out.sum().backward()
        opt.step()
    assert (affine.scale > 0).all() and affine.scale.max() < 1e-3
    out, var = affine(mu, torch.full((5, 2, 1), 2.0))
    assert torch.equal(out, out[:1].expand_as(out))  # the same at every step
    assert torch.allclose(var, 2.0 * affine.scale.detach() ** 2)
    step = affine.stepper()
    assert torch.equal(step(3, mu[3], None)[0], out[3])


def test_step_affine_stepper_matches_its_sequence_form():
    affine = StepAffine(4, 3)
    with torch.no_grad():
        affine.scale.uniform_(-1, 2)
        affine.bias.normal_()
    mu, var = torch.randn(4, 2, 3), torch.rand(4, 2, 1)
    seq_mu, seq_var = affine(mu, var)
    at = affine.stepper()
    for t in range(4):
        m, v = at(t, mu[t], var[t])
        assert torch.equal(m, seq_mu[t]) and torch.equal(v, seq_var[t])
    assert not torch.equal(seq_mu[0] - mu[0], seq_mu[1] - mu[1])  # it varies over time


@pytest.mark.parametrize("sg", [False, True])
def test_no_self_connections_keep_a_zero_diagonal_through_training(sg):
    cfg = _cfg(name="srnn", hidden=[8], self_connections=False)
    torch.manual_seed(0)
    net = build_sg_model(cfg, (5, 6), 3) if sg else build_model(cfg, (5, 6), 3, Firing())
    rec = net.neurons[0].rec
    opt = torch.optim.AdamW(net.parameters(), lr=0.05, weight_decay=0.1)
    x, y = torch.rand(8, 5, 6) * 3, torch.arange(8) % 3
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(net(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.count_nonzero(torch.diagonal(rec.weight)) == 0
    assert torch.count_nonzero(rec.weight) == 8 * 7
    spike_i = torch.eye(8)  # neuron i alone spiked: nothing comes back to i
    assert torch.count_nonzero(torch.diagonal(rec(spike_i)[0])) == 0
    if not sg:
        states = sampled_states(net, 3, seed=1)
        assert all(torch.count_nonzero(torch.diagonal(s["neurons.0.rec.weight"])) == 0 for s in states)


@pytest.mark.parametrize("cfg,in_shape", OPTIONS[-3:])
def test_models_with_every_option_move_between_dtypes(cfg, in_shape):
    net = build_model(cfg, in_shape, 4, Firing()).to(torch.float64)
    assert net(torch.rand(2, *in_shape, dtype=torch.float64)).logits.dtype == torch.float64
    # snnTorch's spike functions return float32 whatever the input: the SG net stays float32
    sg = build_sg_model(cfg, in_shape, 4, batchnorm=True).to(torch.float64).to(torch.float32)
    assert sg(torch.rand(2, *in_shape)).logits.dtype == torch.float32
