"""Running an ONNX model file from anywhere: `snnc export M.onnx --run X.npy --out Y.npz`.

The file may come from anywhere, so it is read only when it is a regular file (a FIFO
is never opened for reading), checked before anything runs (standard ONNX
operators only, no external data, constant Loop trip counts <= MAX_LOOP_TRIPS,
output names that are safe .npz keys), fed only values its input holds
exactly and the model takes (`input_bounds`), and run in a worker process
bounded by RUN_SECONDS of wall clock and RUN_MEMORY of address space. Each
refusal, and a crash of onnxruntime in the worker, is one line.
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import stat
import tokenize

import numpy as np
import onnx
from onnx import helper, numpy_helper

from snnc.compiler.export.onnx import INT32_MAX
from snnc.errors import FormatError, InputError
from snnc.io import atomic_path, file_kind
from snnc.targets.registry import all_targets

# --- reading and running exported (or foreign) models --------------------------
#
# `snnc export M.onnx --run X.npy` may be handed a model from anywhere. It is read
# without blocking or unpickling, checked before anything runs, and run in a
# worker process under limits, so that a crash of onnxruntime (SIGFPE on
# INT64_MIN / -1, say), an endless Loop or a huge allocation ends in one line.
# snnc's own exports stay far inside every limit.

MAX_MODEL_BYTES = 2**31 - 1  # protobuf's ceiling for one message; bigger models need external data (refused)
MAX_LOOP_TRIPS = 2**20       # a constant Loop trip count above this is refused: snnc never emits Loop (time is a
#                              Scan over the input's T), and 2^20 iterations is far beyond any run's T
RUN_SECONDS = 300.0          # wall clock of one --run worker (start included); past it the worker is killed
RUN_MEMORY = 4 * 2**30       # address space the worker may add once it holds the model and input (RLIMIT_AS)
STANDARD_DOMAINS = ("", "ai.onnx")  # the operator domains run: custom and contrib ops (any other domain) are refused
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")  # an output name usable as an .npz member name


def load_model(path) -> onnx.ModelProto:
    """An ONNX file, checked; one-line errors when it is not a regular file (a FIFO is never
    opened for reading), is larger than MAX_MODEL_BYTES, is not a valid model or keeps
    tensors in external files (never read)."""
    fh, size = _open_regular(path, "an ONNX model", FormatError)
    with fh:
        if size > MAX_MODEL_BYTES:
            raise FormatError(f"{path}: {size} bytes is more than an ONNX model holds "
                              f"({MAX_MODEL_BYTES} bytes; external data is not read)")
        data = fh.read(MAX_MODEL_BYTES + 1)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError, ...
        raise FormatError(f"{path}: not a valid ONNX model ({_first_line(exc)})") from None
    for where, tensor in _tensors(model.graph, "graph"):  # before the checker, which would look for the file
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise FormatError(f"{path}: tensor '{tensor.name}' ({where}) keeps its data in an external file; "
                              "only self-contained models are read")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx's ValidationError, ...
        raise FormatError(f"{path}: not a valid ONNX model ({_first_line(exc)})") from None
    return model


def check_runnable(model: onnx.ModelProto, path) -> list[str]:
    """Refuse, in one line, what --run does not run: operators outside STANDARD_DOMAINS or
    model-local functions, a constant Loop trip count above MAX_LOOP_TRIPS, inputs or outputs
    that are not numeric tensors, and output names that are not safe .npz keys (`../x` would
    be a member path). Returns the output names, each one the .npz key of its array."""
    if model.functions:
        raise InputError(f"{path}: defines model-local functions ({model.functions[0].domain}."
                         f"{model.functions[0].name}); --run runs standard ONNX operators only")
    for where, node, consts in _walk(model.graph, "graph", {}):
        if node.domain not in STANDARD_DOMAINS:
            raise InputError(f"{path}: node '{_label(node)}' ({where}) is the custom op "
                             f"{node.domain}.{node.op_type}; --run runs the standard ONNX domain (ai.onnx) only")
        if node.op_type == "Loop" and node.input and node.input[0]:
            trips = consts.get(node.input[0])
            if trips is not None and trips.size == 1 and int(trips.reshape(())) > MAX_LOOP_TRIPS:
                raise InputError(f"{path}: Loop '{_label(node)}' ({where}) runs "
                                 f"{int(trips.reshape(()))} iterations; --run allows at most {MAX_LOOP_TRIPS}")
    for vi in list(model.graph.input) + list(model.graph.output):
        _numeric_dtype(vi, path)
    keys = []
    for out in model.graph.output:
        if not _KEY.fullmatch(out.name) or out.name in keys:
            raise InputError(f"{path}: output name {out.name[:80]!r} is not a safe .npz key (expected a unique name "
                             "of letters, digits, '_', '.', '-', not starting with '.' or '-', at most 200)")
        keys.append(out.name)
    return keys


def read_array(path) -> np.ndarray:
    """One numeric .npy array (the --run input): a regular file (a FIFO is never opened for
    reading), never a zip/.npz, its header checked before anything is allocated."""
    from snnc.io import read_npy

    fh, size = _open_regular(path, "a .npy array", InputError)
    with fh:
        try:
            head = fh.read(6)
            if head[:2] == b"PK":
                raise InputError(f"{path}: is a zip/.npz archive; --run takes one .npy array (np.save(path, x))")
            if head != b"\x93NUMPY":
                raise InputError(f"{path}: not a readable .npy array (no NumPy magic; write it with np.save)")
            fh.seek(0)
            return read_npy(fh, size, str(path), InputError)
        except InputError:
            raise
        except (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError, MemoryError,
                RecursionError, tokenize.TokenError) as exc:
            raise InputError(f"{path}: not a readable .npy array ({_first_line(exc)[:120]})") from None


def feed_for(model: onnx.ModelProto, x: np.ndarray, path, x_path) -> tuple[str, np.ndarray]:
    """(input name, x cast to the input's dtype) where x fits the input's declared shape, is not
    empty, and every value is one the input holds exactly and the model takes (`input_bounds`):
    NaN, infinities, 2^63, fractions for integer inputs, counts above the target's are refused
    in one line, never cast."""
    inits = {t.name for t in model.graph.initializer}
    feeds = [vi for vi in model.graph.input if vi.name not in inits]
    if len(feeds) != 1:
        raise InputError(f"{path}: --run takes a sequence model (one input); this one has {len(feeds)} "
                         f"(a step model?)")
    vi, x = feeds[0], np.asarray(x)
    dtype = _numeric_dtype(vi, path)
    if vi.type.tensor_type.HasField("shape"):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
        if len(dims) != x.ndim or any(d is not None and d != n for d, n in zip(dims, x.shape)):
            declared = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
            raise InputError(f"{x_path}: shape {x.shape} does not fit {path}'s input '{vi.name}' {declared}")
    if x.size == 0:
        raise InputError(f"{x_path}: empty array, shape {x.shape}: --run needs at least one sample, step and channel")
    lo, hi, integer, what = input_bounds(model, dtype)
    takes = f"{path}'s input '{vi.name}' takes {what}"
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise InputError(f"{x_path}: holds NaN or infinity; {takes}")
    if integer and x.dtype.kind == "f" and not np.all(x == np.trunc(x)):
        raise InputError(f"{x_path}: holds non-integer values (e.g. {float(x[x != np.trunc(x)].flat[0])!r}); {takes}")
    if integer or x.dtype.kind != "f":
        least, most = _exact(x.min()), _exact(x.max())
        if least < lo or most > hi:
            raise InputError(f"{x_path}: values span [{least}, {most}]; {takes}")
        return vi.name, x.astype(dtype)
    with np.errstate(all="ignore"):  # float to float: every value must survive the cast unchanged
        cast = x.astype(dtype)
        if not np.array_equal(cast.astype(x.dtype), x):
            raise InputError(f"{x_path}: holds values that {dtype} does not represent exactly; {takes}")
    return vi.name, cast


def input_bounds(model: onnx.ModelProto, dtype: np.dtype) -> tuple[int, int, bool, str]:
    """(least, most, integers only, description) of the values the model's input takes: the
    range in its `snnc.input_range` metadata (the dense edge-int8 export writes it); spike
    counts in [0, the target's input_max] for snnc's spiking models (binary on loihi, up to
    255 on xylo: multi-spike targets take counts > 1); else anything its dtype holds. Always
    within what the dtype holds exactly (integers up to 2^24 in float32)."""
    if dtype.kind == "f":
        hi = 2 ** (np.finfo(dtype).nmant + 1)
        lo = -hi
    else:
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        lo, hi = (int(info.min), int(info.max)) if info is not None else (0, 1)
    props = {p.key: p.value for p in model.metadata_props}
    try:
        declared = json.loads(props.get("snnc.input_range", "null"))
    except ValueError:
        declared = None
    target = all_targets().get(props.get("snnc.target"))
    if isinstance(declared, list) and len(declared) == 2 and all(type(v) is int for v in declared):
        desc = "integers in its declared snnc.input_range"
        lo, hi = max(lo, declared[0]), min(hi, declared[1])
    elif props.get("snnc.model") in ("sequence", "step") and target is not None:
        desc = f"{target.name} spike counts" + (f" ({target.input_format})" if target.input_format else "")
        lo, hi = max(lo, 0), min(hi, target.input_max if target.input_max is not None else INT32_MAX)
    elif dtype.kind == "f":
        return lo, hi, False, f"finite {dtype} values, each held exactly (integers up to {hi})"
    else:
        desc = f"{dtype} values"
    return lo, hi, True, f"{desc}: integers in [{lo}, {hi}]"


def run_model_file(model: onnx.ModelProto, name: str, x: np.ndarray, path) -> list[np.ndarray]:
    """Every output of `model` on {name: x}, computed by onnxruntime in a worker process
    bounded by RUN_SECONDS of wall clock and RUN_MEMORY of address space; its death by a
    signal, its time-out or its failure is one InputError naming `path`."""
    import importlib.util
    import subprocess
    import sys

    if not sys.executable:
        raise InputError(f"{path}: --run needs a Python interpreter to start its worker (sys.executable is empty)")
    where = []  # the folders this process imports numpy and onnxruntime from: the worker's only imports
    for package in ("numpy", "onnxruntime"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise InputError(f"{path}: --run needs the package '{package}', which is not installed")
        where.append(os.path.dirname(list(spec.submodule_search_locations)[0]))
    payload = io.BytesIO()
    blob = model.SerializeToString()
    payload.write(len(blob).to_bytes(8, "little"))
    payload.write(blob)
    payload.write(len(name.encode()).to_bytes(8, "little"))
    payload.write(name.encode())
    np.lib.format.write_array(payload, np.ascontiguousarray(x), allow_pickle=False)
    try:
        done = subprocess.run([sys.executable, "-I", "-c", _WORKER, str(int(RUN_SECONDS) + 1), str(int(RUN_MEMORY)),
                               json.dumps(where)], input=payload.getbuffer(), capture_output=True, timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: ran longer than {RUN_SECONDS:g} s, the limit of --run; stopped") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot start the onnxruntime worker ({exc.strerror or exc})") from None
    if done.returncode != 0:
        raise InputError(f"{path}: {_worker_failure(done.returncode, done.stderr)}")
    return _read_outputs(done.stdout, path, len(model.graph.output))


def save_outputs(path, keys: list[str], values: list[np.ndarray]) -> None:
    """An .npz of `values` under `keys` (checked names), written atomically; no pickles."""
    import zipfile

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in zip(keys, values):
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


# --- helpers of the reading and running above ------------------------------------

def _open_regular(path, what: str, missing):
    """(binary file, size) of `path` when it is a regular file. Anything else (FIFO, device,
    socket, directory) is refused from its stat, never opened for reading; the open itself is
    non-blocking and re-checked, so a file swapped for a FIFO meanwhile cannot block either."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise missing(f"{path}: no such file (expected {what})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: is {file_kind(st.st_mode)}, not a regular file (expected {what})")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(f"{path}: is {file_kind(st.st_mode)}, not a regular file (expected {what})")
    return os.fdopen(fd, "rb"), st.st_size


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _subgraphs(node):
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.name, attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for k, g in enumerate(attr.graphs):
                yield f"{attr.name}[{k}]", g


def _walk(graph, where: str, consts: dict):
    """(where, node, constants visible there) for every node of `graph` and of its subgraphs
    (Loop, Scan, If bodies), the constants being initializers and Constant outputs (scalars
    and small tensors only) of the graph and the graphs around it."""
    consts = dict(consts)
    for t in graph.initializer:
        if _small(t.dims):
            consts[t.name] = _array(t)
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR and _small(attr.t.dims):
                    consts[node.output[0]] = _array(attr.t)
                elif attr.name == "value_int":
                    consts[node.output[0]] = np.asarray(attr.i)
    for node in graph.node:
        yield where, node, consts
        for attr, sub in _subgraphs(node):
            yield from _walk(sub, f"{where} > {node.op_type} '{_label(node)}'.{attr}", consts)


def _label(node) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def _small(dims) -> bool:
    return int(np.prod(dims, dtype=np.int64)) <= 16 if all(d >= 0 for d in dims) else False


def _array(tensor) -> np.ndarray | None:
    try:
        return numpy_helper.to_array(tensor)
    except Exception:  # a malformed constant: onnxruntime refuses it when the worker loads the model
        return None


def _tensors(graph, where: str):
    """(where, TensorProto) of every initializer and constant attribute, subgraphs included."""
    for t in graph.initializer:
        yield where, t
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield f"{where} > {node.op_type}", attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                for t in attr.tensors:
                    yield f"{where} > {node.op_type}", t
        for name, sub in _subgraphs(node):
            yield from _tensors(sub, f"{where} > {node.op_type}.{name}")


_NUMERIC = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BOOL,
            onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
            onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64}


def _numeric_dtype(vi, path) -> np.dtype:
    """The numpy dtype of a graph input or output that is a numeric tensor; InputError otherwise."""
    t = vi.type
    if t.WhichOneof("value") != "tensor_type" or t.tensor_type.elem_type not in _NUMERIC:
        shown = (onnx.TensorProto.DataType.Name(t.tensor_type.elem_type)
                 if t.WhichOneof("value") == "tensor_type" else t.WhichOneof("value") or "untyped")
        raise InputError(f"{path}: '{vi.name}' is {shown}; --run reads and writes numeric tensors only")
    return np.dtype(helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type))


def _exact(v) -> int | float:
    """A NumPy scalar as an exact Python number (ints stay ints: 2^63 never rounds)."""
    return int(v) if np.asarray(v).dtype.kind in "iub" or float(v).is_integer() else float(v)


def _worker_failure(code: int, stderr: bytes) -> str:
    """The worker's end as one line: a signal, the CPU limit, the memory limit or its error."""
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        if sig == "SIGXCPU":
            return f"ran longer than {RUN_SECONDS:g} s of CPU time, the limit of --run; stopped"
        return f"onnxruntime died with {sig} running this model on the input"
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {code}"
    reason = re.sub(r"^\w+: |\[ONNXRuntimeError\] : \d+ : \w+ : ", "", last)[:300]
    if last.startswith("MemoryError") or "bad_alloc" in last or "allocat" in last.lower():
        return f"needs more than {RUN_MEMORY // 2**20} MiB, the memory limit of --run ({reason})"
    return f"onnxruntime cannot run it on this input ({reason})"


def _read_outputs(data: bytes, path, count: int) -> list[np.ndarray]:
    """The worker's outputs: `count` .npy arrays back to back, headers checked like read_npy's."""
    fp, outs = io.BytesIO(data), []
    view = memoryview(data)
    try:
        for _ in range(count):
            version = np.lib.format.read_magic(fp)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, fortran, dtype = read_header(fp, max_header_size=10000)
            if dtype.hasobject or dtype.kind not in "biuf":
                raise ValueError(f"dtype {dtype}")
            n = int(np.prod(shape, dtype=object))
            start = fp.tell()
            if start + n * dtype.itemsize > len(data):
                raise ValueError("truncated")
            outs.append(np.frombuffer(view, dtype, n, start).reshape(shape, order="F" if fortran else "C"))
            fp.seek(start + n * dtype.itemsize)
    except (ValueError, KeyError, EOFError, OverflowError) as exc:
        raise InputError(f"{path}: the onnxruntime worker's outputs are unreadable ({_first_line(exc)})") from None
    return outs


# The worker: reads (model, input name, input .npy) from stdin, caps its own memory and CPU
# time, runs the model in onnxruntime and writes every output as .npy to stdout. It imports
# numpy and onnxruntime only, from the folders the parent names (python -I: nothing from
# the working directory, PYTHONPATH or the user's site-packages).
_WORKER = r"""
import io, json, resource, sys
sys.path[:0] = json.loads(sys.argv[3])


def cap(limit, value):
    soft, hard = resource.getrlimit(limit)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    if soft == resource.RLIM_INFINITY or value < soft:
        resource.setrlimit(limit, (value, hard))


class Sink:  # stdout as a plain writer: numpy's tofile() would ask a pipe for its position
    def write(self, data):
        return sys.stdout.buffer.write(data)


cpu, memory = int(sys.argv[1]), int(sys.argv[2])
cap(resource.RLIMIT_CORE, 0)
cap(resource.RLIMIT_FSIZE, 0)
cap(resource.RLIMIT_CPU, cpu)
import numpy as np
import onnxruntime as ort
data = sys.stdin.buffer.read()
n = int.from_bytes(data[:8], "little"); model = data[8:8 + n]; k = 8 + n
m = int.from_bytes(data[k:k + 8], "little"); name = data[k + 8:k + 8 + m].decode()
x = np.lib.format.read_array(io.BytesIO(data[k + 8 + m:]), allow_pickle=False)
del data
try:
    with open("/proc/self/status") as fh:
        held = int(next(ln for ln in fh if ln.startswith("VmSize:")).split()[1]) * 1024
    cap(resource.RLIMIT_AS, held + memory)
except (OSError, StopIteration, ValueError):
    pass
try:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    opts.enable_cpu_mem_arena = False
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    del model
    outs = sess.run(None, {name: x})
    out = Sink()
    for value in outs:
        if not isinstance(value, np.ndarray):
            raise TypeError(f"an output is a {type(value).__name__}, not a tensor")
        np.lib.format.write_array(out, value, allow_pickle=False)
    sys.stdout.buffer.flush()
except BaseException as exc:
    text = " ".join(str(exc).split())[:400] or type(exc).__name__
    sys.stderr.write(f"{type(exc).__name__}: {text}\n")
    sys.exit(3)
"""
