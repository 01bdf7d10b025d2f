"""Resource limits on hostile input: every reader checks declared sizes against a limit
before it allocates, `.snnc` load time is linear in the file, `save` writes nothing `load`
would refuse. Each refusal is one line naming the file and the limit, exit status 2; the
command-line probes run in one child process whose peak RSS is checked (<= 1 GB)."""
from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch

from snnc.compiler.ir import Graph, Input, Output, Synapse, load, save, serialize
from snnc.errors import FormatError, GraphError, InputError
from tests.fuzz.helpers import assert_one_line_refusal, cli_in_child, run_cli, small_loihi_graph

PEAK_RSS = 1 << 30          # the bar: peak memory of a process refusing any probe
PEAK_TRACED = 64 << 20      # Python/numpy allocations while refusing in-process (tracemalloc)


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(fn, error=FormatError, needle=None) -> str:
    """fn() raises `error` in one line (containing `needle`), allocating < PEAK_TRACED on the way."""
    caught = []

    def run():
        with pytest.raises(error) as info:
            fn()
        caught.append(str(info.value))

    peak = _traced_peak(run)
    message = caught[0]
    assert "\n" not in message, message
    assert needle is None or needle in message, message
    assert peak < PEAK_TRACED, f"{peak} bytes allocated before: {message}"
    return message


# --- .snnc load: linear in the file ---------------------------------------------------

def _parallel_synapses(n: int) -> Graph:
    """One Input and one population joined by `n` parallel Synapse nodes (each its own weights)."""
    from snnc.compiler.ir import FloatLIF

    g = Graph(target="ideal")
    g.add("in", Input(4))
    g.add("lif", FloatLIF(3))
    for i in range(n):
        g.add(f"s{i}", Synapse(np.full((3, 4), 0.01 * (i % 7), np.float32), delay=1), ["in"])
        g.connect(f"s{i}", "lif")
    g.add("out", Output(3), ["lif"])
    return g


def test_8000_parallel_synapses_load_in_linear_time(tmp_path):
    path = tmp_path / "p.snnc"
    save(_parallel_synapses(8000), path)
    load(path)  # warm: imports, numba registrations
    start = time.perf_counter()
    graph = load(path)
    elapsed = time.perf_counter() - start
    assert len(graph.nodes) == 8003 and len(graph.incoming("lif")) == 8000
    assert elapsed < 5.0, f"8,000 parallel synapses took {elapsed:.2f} s to load (bar: 2 s)"


def test_8000_parallel_edges_between_one_pair_refused_fast(graph_file, tmp_path, capsys):
    members = _members(graph_file)
    doc = json.loads(members["graph.json"])
    syn = next(e["name"] for e in doc["nodes"] if e["type"] == "Synapse")
    doc["edges"] += [next(e for e in doc["edges"] if e[1] == syn)] * 8000
    path = tmp_path / "e.snnc"
    path.write_bytes(_zip({**members, "graph.json": json.dumps(doc).encode()}))
    start = time.perf_counter()
    _refused(lambda: load(path), needle="exactly one source")
    assert time.perf_counter() - start < 5.0
    code, _, err = run_cli(["inspect", path], capsys)
    assert_one_line_refusal(code, err, str(path))


def test_one_tensor_shared_by_many_nodes_is_refused(tmp_path):
    """A tensor referenced by 8,000 nodes would be copied 8,000 times: each belongs to one field."""
    doc, tensors = serialize.graph_to_dict(_parallel_synapses(2))
    for entry in doc["nodes"]:
        if entry["type"] == "Synapse":
            entry["fields"]["weights"] = {"tensor": "s0/weights"}
    buf = io.BytesIO()
    np.savez_compressed(buf, **tensors)
    path = tmp_path / "shared.snnc"
    path.write_bytes(_zip({"graph.json": json.dumps(doc).encode(), "tensors.npz": buf.getvalue()}))
    _refused(lambda: load(path), needle="already belongs to")


def test_edge_index_follows_every_change_to_the_edge_list():
    g = _parallel_synapses(3)
    assert g.predecessors("lif") == ["s0", "s1", "s2"]
    g.edges.remove(("s1", "lif"))
    assert g.predecessors("lif") == ["s0", "s2"]
    g.edges[0] = ("in", "s1")
    assert g.successors("in") == ["s1", "s1", "s2"]
    g.edges += [("s1", "lif")]
    g.edges.reverse()
    assert g.predecessors("lif") == ["s1", "s2", "s0"]
    g.edges = [("in", "s0")]
    assert g.predecessors("lif") == [] and g.successors("in") == ["s0"]
    del g.edges[:]
    assert g.successors("in") == []


def _rounds(graph: Graph) -> list[str]:
    """The former neuron_order (rounds of ready populations in node order), quadratic."""
    deps = {n: {src for _, _, src in graph.incoming(n) if src != n and src in graph.neurons}
            for n in graph.neurons}
    order: list[str] = []
    while deps:
        ready = [n for n, d in deps.items() if d <= set(order)]
        if not ready:
            raise GraphError("cycle")
        order.extend(ready)
        for n in ready:
            del deps[n]
    return order


def test_neuron_order_is_the_former_rounds_order():
    from snnc.compiler.ir import FloatLIF

    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(1, 12))
        g = Graph(target="ideal")
        g.add("in", Input(2))
        names = [f"p{i}" for i in rng.permutation(n)]
        for name in names:
            g.add(name, FloatLIF(2))
        rank = {name: i for i, name in enumerate(sorted(names))}  # a DAG: edges go up in this rank
        k = 0
        for dst in names:
            sources = ["in"] + [s for s in names if rank[s] < rank[dst] and rng.random() < 0.3]
            sources += [dst] if rng.random() < 0.3 else []
            for src in sources:
                g.add(f"w{k}", Synapse(np.ones((2, 2), np.float32), delay=1), [src])
                g.connect(f"w{k}", dst)
                k += 1
        assert g.neuron_order() == _rounds(g), trial


# --- graph.json: nesting scan, sizes, counts ---------------------------------------

def _doc_depth(obj) -> int:
    if isinstance(obj, (list, dict)):
        items = obj.values() if isinstance(obj, dict) else obj
        return 1 + max((_doc_depth(v) for v in items), default=0)
    return 0


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 16])
def test_depth_scan_matches_the_parsed_depth(chunk, monkeypatch):
    monkeypatch.setattr(serialize, "_DEPTH_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    strings = ['a["]\\\\', "}{", "\\", 'x\\\\"', "é[", "\\u005b"]

    def value(depth):
        r = rng.random()
        if depth > 6 or r < 0.3:
            return strings[int(rng.integers(len(strings)))] if r < 0.2 else 1
        if r < 0.65:
            return [value(depth + 1) for _ in range(int(rng.integers(0, 3)))]
        return {strings[int(rng.integers(len(strings)))] + str(j): value(depth + 1)
                for j in range(int(rng.integers(0, 3)))}

    for _ in range(200):
        obj = value(0)
        raw = json.dumps(obj, ensure_ascii=False).encode()
        assert serialize._json_depth(raw) == _doc_depth(obj), raw


def test_depth_scan_of_a_long_string_uses_little_memory():
    """16 MiB of escapes inside one string (the regex scan needed ~120 bytes per character)."""
    raw = b'{"s": "' + b"\\n" * (8 << 20) + b'"}'
    peak = _traced_peak(lambda: serialize._json_depth(raw))
    assert serialize._json_depth(raw) == 1
    assert peak < 16 << 20, peak


def test_long_string_file_over_the_json_limit_is_refused(graph_file, tmp_path):
    members = _members(graph_file)
    doc = json.loads(members["graph.json"])
    doc["metadata"]["s"] = "x" * (serialize.MAX_JSON_BYTES + 1)
    path = tmp_path / "s.snnc"
    path.write_bytes(_zip({**members, "graph.json": json.dumps(doc).encode()}))
    assert path.stat().st_size < 1 << 20
    _refused(lambda: load(path), needle=f"{serialize.MAX_JSON_BYTES >> 20} MiB limit")


def _with_doc(graph_file, tmp_path, edit) -> object:
    members = _members(graph_file)
    doc = json.loads(members["graph.json"])
    edit(doc)
    path = tmp_path / "d.snnc"
    path.write_bytes(_zip({**members, "graph.json": json.dumps(doc).encode()}))
    return path


def test_node_and_edge_counts_are_bounded(graph_file, tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "MAX_NODES", 50)
    monkeypatch.setattr(serialize, "MAX_EDGES", 80)

    def many_nodes(doc):
        doc["nodes"] += [{"name": f"i{k}", "type": "Input", "fields": {"size": 1}} for k in range(50)]

    def many_edges(doc):
        doc["edges"] += [doc["edges"][0]] * 80

    _refused(lambda: load(_with_doc(graph_file, tmp_path, many_nodes)), needle=f"limit of {serialize.MAX_NODES}")
    _refused(lambda: load(_with_doc(graph_file, tmp_path, many_edges)), needle=f"limit of {serialize.MAX_EDGES}")


def test_sizes_summed_over_the_graph_are_bounded(graph_file, tmp_path):
    """Many nodes each of the largest allowed size: the sum is refused before any is built."""
    def big(doc):
        doc["nodes"] += [{"name": f"i{k}", "type": "Input", "fields": {"size": serialize.MAX_POPULATION}}
                         for k in range(4)]

    _refused(lambda: load(_with_doc(graph_file, tmp_path, big)), needle=f"limit of {serialize.MAX_NEURONS}")


# --- tensors.npz: element count before allocation -----------------------------------

def _huge_tensor_file(graph_file, path):
    """`graph_file` with its weights replaced by 250 MB of int8 zeros (deflated: a tiny file)."""
    members = _members(graph_file)
    with zipfile.ZipFile(io.BytesIO(members["tensors.npz"])) as zf:
        arrays = {n: zf.read(n) for n in zf.namelist()}
    victim = next(n for n in arrays if "weights" in n)
    buf = io.BytesIO()
    np.save(buf, np.zeros((6, (250 << 20) // 6), np.int8))
    path.write_bytes(_zip({**members, "tensors.npz": _zip({**arrays, victim: buf.getvalue()})}))
    return path


def test_250_mb_tensor_in_a_tiny_file_is_refused_before_allocating(graph_file, tmp_path, capsys):
    """int8 weights declaring 250 MB would widen to 2 GB of int64 in the node."""
    path = _huge_tensor_file(graph_file, tmp_path / "t.snnc")
    assert path.stat().st_size < 1 << 20
    _refused(lambda: load(path), needle=f"{serialize.MAX_TENSOR_ELEMENTS}-element limit")
    code, _, err = run_cli(["inspect", path], capsys)
    assert_one_line_refusal(code, err, str(path))


def test_read_npy_reads_every_layout_exactly():
    from snnc.io import read_npy

    arrays = [np.arange(12, dtype=">i8").reshape(3, 4), np.asfortranarray(np.arange(12.0).reshape(3, 4)),
              np.zeros((0, 5), np.float32), np.array(7, np.int16), np.arange(2_000_000, dtype=np.uint8),
              np.array([True, False])]
    for arr in arrays:
        buf = io.BytesIO()
        np.save(buf, arr)
        data = buf.getvalue()
        got = read_npy(io.BytesIO(data), len(data), "x")
        assert got.dtype == arr.dtype and got.shape == arr.shape and np.array_equal(got, arr)
        assert got.flags.writeable
        if arr.size:
            with pytest.raises(ValueError, match="holds"):
                read_npy(io.BytesIO(data[:-1]), len(data) - 1, "x")
            with pytest.raises(ValueError, match="ends after"):   # the stream is shorter than it said
                read_npy(io.BytesIO(data[:-1]), len(data), "x")


# --- simulate: T and the size of a run -------------------------------------------------

def test_simulate_caps_steps_before_allocating():
    from snnc.runtime import simulate
    from snnc.runtime.simulate import MAX_SPIKE_VALUES, MAX_STEPS

    graph = small_loihi_graph()
    steps = np.broadcast_to(np.uint8(0), (MAX_STEPS + 1, 4))  # no memory behind it
    _refused(lambda: simulate(graph, steps), InputError, f"limit of {MAX_STEPS} steps")
    batch = np.broadcast_to(np.uint8(0), (MAX_SPIKE_VALUES // 64, 64, 4))
    _refused(lambda: simulate(graph, batch), InputError, f"limit of {MAX_SPIKE_VALUES}")
    assert simulate(graph, np.zeros((3, 4), np.uint8)).steps == 3


# --- save: nothing load would refuse ----------------------------------------------------

def test_save_refuses_a_seed_beyond_2_53_naming_it(tmp_path):
    graph = small_loihi_graph()
    graph.metadata["compile"] = {"seed": 2**80}
    path = tmp_path / "seed.snnc"
    with pytest.raises(GraphError) as info:
        save(graph, path)
    assert "metadata.compile.seed" in str(info.value) and "2^53" in str(info.value)
    assert "\n" not in str(info.value) and not path.exists()


@pytest.mark.parametrize("edit,needle", [
    (lambda g: g.nodes[next(n for n, x in g.nodes.items() if isinstance(x, Synapse))].__setattr__(
        "delay", 10**30), "field 'delay'"),
    (lambda g: g.metadata.update(dt=float("nan")), "metadata.dt"),
    (lambda g: g.metadata.update(deep=json.loads("[" * 80 + "]" * 80)), "nested"),
    (lambda g: g.metadata.update(obj=object()), "not a JSON value"),
])
def test_save_refuses_what_load_refuses(tmp_path, edit, needle):
    graph = small_loihi_graph()
    edit(graph)
    path = tmp_path / "x.snnc"
    with pytest.raises(GraphError) as info:
        save(graph, path)
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not path.exists()


def test_save_refuses_tensors_beyond_the_reader_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "MAX_TENSOR_ELEMENTS", 10)
    path = tmp_path / "big.snnc"
    with pytest.raises(GraphError, match="element limit"):
        save(small_loihi_graph(), path)
    assert not path.exists()


# --- checkpoints: declared sizes before torch.load, model size before building ----------

@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from snnc.train import config as config_mod
    from snnc.train.build import make_model

    cfg = config_mod.from_dict({"model": {"hidden": [8]}, "data": {"name": "digits", "steps": 2}})
    model = make_model(cfg, (2, 64), 10)
    ckpt = {"format": "snnc.train/2", "method": "sbnn", "config": cfg.to_dict(), "model": model.state_dict(),
            "in_shape": [2, 64], "n_classes": 10, "epoch": 1, "seconds": 1.0}
    path = tmp_path_factory.mktemp("ckpt") / "ok.pt"
    torch.save(ckpt, path)
    return ckpt, path


def _variant(tiny_ckpt, tmp_path, name, **changes):
    ckpt, _ = tiny_ckpt
    config = json.loads(json.dumps(ckpt["config"]))
    for key, value in changes.pop("model", {}).items():
        config["model"][key] = value
    path = tmp_path / f"{name}.pt"
    torch.save({**ckpt, "config": config, **changes}, path)
    return path


HUGE = {
    "hidden": dict(model={"hidden": [65536]}),
    "in_shape": dict(in_shape=[2, 1 << 24]),
    "hidden_and_in_shape": dict(model={"hidden": [4096]}, in_shape=[2, 65536]),
    "many_layers": dict(model={"hidden": [1] * 5000}),
    "steps": dict(in_shape=[1 << 24, 64]),
    "step_affine": dict(model={"affine": "step"}, in_shape=[100_000, 64]),
}


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_model_in_a_checkpoint_refused_before_building(tiny_ckpt, tmp_path, name):
    from snnc.train.checkpoint import load_model

    path = _variant(tiny_ckpt, tmp_path, name, **HUGE[name])
    message = _refused(lambda: load_model(path), needle=str(path))
    assert "limit" in message or "the checkpoint holds" in message, message


def test_tiny_checkpoint_still_loads(tiny_ckpt):
    from snnc.train.checkpoint import load_model

    model, _ = load_model(tiny_ckpt[1])
    assert model.fcs[0].weight.shape == (8, 64)


@pytest.mark.parametrize("raw", [
    {"model": {"name": "mlp", "hidden": [5, 3]}},
    {"model": {"name": "mlp", "hidden": [4], "affine": "step"}},
    {"model": {"name": "mlp", "hidden": [4], "affine": "channel_positive"}},
    {"model": {"name": "srnn", "hidden": [4, 3], "affine": "step"}},
    {"model": {"name": "resnet", "widths": [2, 3], "blocks": [1, 2], "affine": "step"}},
    {"model": {"name": "mlp", "hidden": [4]}, "method": {"name": "sg"}},
    {"model": {"name": "srnn", "hidden": [4]}, "method": {"name": "sg", "batchnorm": True}},
    {"model": {"name": "resnet", "widths": [2], "blocks": [1]}, "method": {"name": "sg", "batchnorm": True}},
])
def test_size_floor_never_exceeds_a_real_state_dict(raw):
    """The refusal compares a lower bound with the stored state: real nets always pass."""
    from snnc.train import config as config_mod
    from snnc.train.build import make_model, size_floor

    cfg = config_mod.from_dict({**raw, "data": {"name": "digits", "steps": 3}})
    in_shape = (3, 2, 4, 4) if cfg.model.name == "resnet" else (3, 6)
    state = make_model(cfg, in_shape, 5).state_dict()
    values, entries = size_floor(cfg, in_shape, 5)
    assert 0 < values <= sum(v.numel() for v in state.values())
    assert 0 < entries <= len(state)


def _declare(data: bytes, record: str, size: int) -> bytes:
    """`data` (a zip) with `record`'s inflated size declared as `size` in both its headers."""
    out = bytearray(data)
    name = record.encode()
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            name_at = i + (30 if sig == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                struct.pack_into("<I", out, i + off, size)
            start = i + 4
    return bytes(out)


def _deflated_copy(path) -> tuple[bytes, str]:
    """The checkpoint re-zipped with its tensor records deflated; (bytes, a tensor record's name)."""
    with zipfile.ZipFile(path) as zf:
        records = {info.filename: zf.read(info) for info in zf.infolist()}
    tensor = next(n for n in records if "/data/" in n)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in records.items():
            zf.writestr(name, data, zipfile.ZIP_DEFLATED if name == tensor else zipfile.ZIP_STORED)
    return buf.getvalue(), tensor


@pytest.mark.parametrize("declared,needle", [
    (1_800_000_000, "MiB limit on a checkpoint"),
    (200 << 20, "never compresses"),
])
def test_zip_bomb_checkpoint_refused_before_torch_load(tiny_ckpt, tmp_path, monkeypatch, declared, needle):
    from snnc.train import checkpoint
    from snnc.train.kan.checkpoint import is_kan_checkpoint

    data, tensor = _deflated_copy(tiny_ckpt[1])
    path = tmp_path / "bomb.pt"
    path.write_bytes(_declare(data, tensor, declared))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran on a bomb"))
    _refused(lambda: checkpoint.load_model(path), needle=needle)
    assert not is_kan_checkpoint(path)


def test_deflated_checkpoint_within_the_limits_still_loads(tiny_ckpt, tmp_path):
    from snnc.train.checkpoint import load_model

    path = tmp_path / "deflated.pt"
    path.write_bytes(_deflated_copy(tiny_ckpt[1])[0])
    assert load_model(path)[0].fcs[0].weight.shape == (8, 64)


def test_legacy_non_zip_torch_file_is_refused(tmp_path):
    """torch's legacy format allocates what its pickle declares: only zip archives are read."""
    from snnc.train.checkpoint import load_model

    path = tmp_path / "legacy.pt"
    torch.save({"format": "snnc.train/2"}, path, _use_new_zipfile_serialization=False)
    _refused(lambda: load_model(path), needle="zip archive")


# --- the command line: one child process, peak RSS ---------------------------------------

def test_cli_refusals_one_line_and_under_1_gb(graph_file, tiny_ckpt, tmp_path):
    """The probes of the report, through `snnc`, in one child process: each exits 2 with one
    line naming the file, and the process's peak RSS stays under 1 GB."""
    tensor = _huge_tensor_file(graph_file, tmp_path / "tensor.snnc")
    members = _members(graph_file)
    doc = json.loads(members["graph.json"])
    doc["metadata"]["s"] = "\\" * (serialize.MAX_JSON_BYTES // 2 + 1)   # written as two characters each
    text = tmp_path / "string.snnc"
    text.write_bytes(_zip({**members, "graph.json": json.dumps(doc).encode()}))
    deep = tmp_path / "deep.snnc"
    deep.write_bytes(_zip({**members, "graph.json": b"[" * (8 << 20) + b"]" * (8 << 20)}))
    spikes = tmp_path / "spikes.npy"
    np.save(spikes, np.zeros((3_000_000, 4), np.uint8))
    hidden = _variant(tiny_ckpt, tmp_path, "hidden", **HUGE["hidden"])
    in_shape = _variant(tiny_ckpt, tmp_path, "in_shape", **HUGE["hidden_and_in_shape"])
    data, record = _deflated_copy(tiny_ckpt[1])
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(_declare(data, record, 1_800_000_000))
    out = tmp_path / "out.snnc"
    probes = [(["inspect", tensor], tensor), (["inspect", text], text), (["inspect", deep], deep),
              (["simulate", graph_file, "--input", spikes], "steps"),
              *[(["compile", p, "--target", "ideal", "--out", out], p) for p in (hidden, in_shape, bomb)]]
    rows = cli_in_child([cmd for cmd, _ in probes])
    for row, (_, needle) in zip(rows, probes):
        assert_one_line_refusal(row["code"], row["err"], str(needle))
        assert row["peak"] < PEAK_RSS, f"{row['argv']}: peak RSS {row['peak'] >> 20} MiB"
    assert not out.exists()
