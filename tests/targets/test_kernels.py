"""Hard-coded value sequences for each target's arithmetic (computed by hand
from Lava's and xylosim's source, independent of our code)."""
import numpy as np

import snnc
from snnc.targets import loihi, xylo


def test_loihi_lif_sequence_with_dense_delay():
    # one input -> one LIF; w=10, du=2048 (u keeps 2047/4096), dv=1024, vth=5 (320 scaled)
    g = loihi.graph_from_lava_layers([dict(weights=[[10]], du=2048, dv=1024, vth=5)], 1)
    res = snnc.runtime.simulate(g, [[1], [0], [0], [0]], record=("u", "v"))
    assert res.state["lif0"]["u"][:, 0].tolist() == [0, 640, 319, 159]
    assert res.state["lif0"]["v"][:, 0].tolist() == [0, 0, 319, 0]
    assert res.spikes["lif0"][:, 0].tolist() == [0, 1, 0, 1]


def test_loihi_decay_truncates_toward_zero():
    u = np.array([-640, 640, -1], np.int64)
    assert loihi.decay12(u, 2049).tolist() == [-319, 319, 0]


def test_loihi_u_wrap_follows_lava_literally():
    # c > 2^23 loses 2^24 once, even if the result is still out of range
    u, v = np.array([0, 0], np.int64), np.array([0, 0], np.int64)
    a = np.array([2**18, 2**25 >> 6], np.int64)       # << 6 gives 2^24 and 2^25
    loihi.lif_step(u, v, a, np.array([0, 0]), np.array([0, 0]), np.array([0, 0]), np.array([2**30, 2**30]))
    assert u.tolist() == [0, 2**25 - 2**24]
    assert v.tolist() == [0, 2**23 - 1]                # v saturates at 2^23 - 1


def test_loihi_u_wrap_boundaries():
    # exactly 2^23 stays (Lava wraps only values above it); exactly -2^23 becomes +2^23
    for a_in, want in ((2**17, 2**23), (-(2**17), 2**23), (2**17 + 1, 2**23 + 64 - 2**24)):
        u, v = np.array([0], np.int64), np.array([0], np.int64)
        loihi.lif_step(u, v, np.array([a_in]), np.array([0]), np.array([0]), np.array([0]), np.array([2**30]))
        assert u[0] == want, a_in


def test_loihi_weight_preprocessing_matches_lava_rules():
    assert loihi.effective_weights([[300, -3, 5]]).tolist() == [[254, -4, 4]]   # mixed: clip, even
    assert loihi.effective_weights([[300, 7]]).tolist() == [[255, 7]]            # excitatory
    assert loihi.effective_weights([[-300, -7]]).tolist() == [[-255, -7]]        # inhibitory


def test_loihi_dense_output_shifts():
    assert loihi.dense_output(np.array([-7, 7]), -1).tolist() == [-4, 3]   # arithmetic >> floors
    assert loihi.dense_output(np.array([2**31]), 0).tolist() == [-(2**31)]  # int32 port wraps


def test_xylo_multi_spike_sequence():
    g = xylo.graph_from_xylo(w_in=[[[100]]], w_rec=[[[0]]], w_out=[[0]], threshold=100, threshold_out=10,
                             weight_shift_in=2, dash_syn=1, dash_mem=0)
    res = snnc.runtime.simulate(g, [[3], [0], [0]], record=("v", "i_syn"))
    # 3 spikes x (100 << 2) = 1200, decays by >> 1 before integrating: 600, 300, 150
    assert res.state["hidden"]["i_syn"][:, 0, 0].tolist() == [600, 300, 150]
    assert res.spikes["hidden"][:, 0].tolist() == [6, 3, 1]
    assert res.state["hidden"]["v"][:, 0].tolist() == [0, 0, 50]


def test_xylo_saturation_and_input_cap():
    g = xylo.graph_from_xylo(w_in=[[[127]]], w_rec=[[[0]]], w_out=[[0]], threshold=32767, threshold_out=10,
                             weight_shift_in=7, dash_syn=15, dash_mem=15)
    res = snnc.runtime.simulate(g, [[20]], record=("i_syn",))
    # 15 (capped) x 16256 saturates at 32767, then decays by the minimum step 1
    assert res.state["hidden"]["i_syn"][0, 0, 0] == 32766
    assert res.stats["input"]["overflow_events"] == 1
    assert res.stats["hidden"]["overflow_events"] >= 1


def test_xylo_bitshift_decay_minimum_step():
    pairs = [(5, 4, 1), (-5, 4, -1), (0, 4, 0), (40, 2, 10), (-40, 2, -10)]
    assert [xylo.bitshift_decay(x, d) for x, d, _ in pairs] == [want for _, _, want in pairs]


def test_float_cuba_multispike_sequence_by_hand():
    """i = alpha i + a; v = beta v + i + bias; n = #{k : v > k vth} (<= max); soft reset."""
    from snnc.targets.ideal import float_lif_step

    v, i = np.zeros(1, np.float32), np.zeros(1, np.float32)
    args = dict(beta=np.float32([0.5]), alpha=np.float32([0.5]), vth=np.float32([1.0]),
                bias=np.float32([0.0]), soft_reset=True, max_spikes=3)
    seen = []
    for a in (2.0, 4.0, 0.0, 0.0):
        s, _ = float_lif_step(v, i, np.array([a]), args["beta"], args["alpha"], args["vth"], args["bias"],
                              args["soft_reset"], args["max_spikes"])
        seen.append((float(i[0]), float(v[0]), int(s[0])))
    # step 0: i 2, v 2 -> 1 spike (2 > 1, not > 2), v 1; step 1: i 5, v 5.5 -> 3 (capped), v 2.5
    # step 2: i 2.5, v 3.75 -> 3, v 0.75; step 3: i 1.25, v 1.625 -> 1, v 0.625
    assert seen == [(2.0, 1.0, 1), (5.0, 2.5, 3), (2.5, 0.75, 3), (1.25, 0.625, 1)]


def test_every_limit_cites_its_source():
    from snnc.targets import all_targets

    for name, target in all_targets().items():
        missing = set(target.limits) - set(target.limit_sources)
        assert not missing, f"{name}: limits without a source: {sorted(missing)}"


def test_the_int32_decay_is_decay12_on_int32_values():
    """lif_neuron's decay in int32 lanes (decay12_32) equals decay12 (int64) at the int32 edges,
    around multiples of 4096 and on random values, for decays at their edges and between."""
    from snnc.targets.loihi.lif import decay12_32

    rng = np.random.default_rng(7)
    edges = [-(2**31), -(2**31) + 1, 2**31 - 1, 2**31 - 4096, -(2**23), 2**23, 0, 1, -1]
    around = [k * 4096 + o for k in (-3, -1, 0, 1, 5, 2**19 - 1, -(2**19)) for o in (-1, 0, 1)]
    xs = [x for x in edges + around + rng.integers(-(2**31), 2**31, 400).tolist() if -(2**31) <= x < 2**31]
    for d in (0, 1, 2, 2048, 4094, 4095, 4096, *rng.integers(0, 4097, 4).tolist()):
        got = [int(decay12_32(np.int32(x), d)) for x in xs]
        assert got == [int(loihi.decay12(x, d)) for x in xs], d
