"""Small file helpers: atomic writes so no reader ever sees a half-written file."""
from __future__ import annotations

import contextlib
import glob
import json
import os
import stat
import tempfile
import time
from pathlib import Path

from snnc.errors import OutputError


STALE_AFTER_S = 3600.0  # temporary files of a writer that is gone are removed after this


def output_target(path: str | os.PathLike) -> Path:
    """The file that writing `path` changes: symlinks are followed to their target
    (so the link survives); a directory, FIFO, socket or device is refused with one
    line, and so is a path whose folder cannot hold files."""
    path = Path(path)
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st = real.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({_why(exc)})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: is {file_kind(st.st_mode)}, not a file; refusing to write it")
    parent = real.parent
    for up in (parent, *parent.parents):
        if up.exists():
            if not up.is_dir():
                raise OutputError(f"{path}: cannot write here ({up} is not a folder)")
            break
    return real


def require_file(path, expected: str, error=None) -> Path:
    """`path` as a Path when it is a regular file; else one line saying it is missing or not a
    regular file (a FIFO is never opened), and what was `expected` there."""
    from snnc.errors import InputError

    path = Path(path)
    if not path.is_file():
        why = "not a regular file" if path.exists() else "no such file"
        raise (error or InputError)(f"{path}: {why} (expected {expected})")
    return path


def check_writable(path: str | os.PathLike) -> Path:
    """`output_target`, and the folder takes a new file (tried, then removed): lets a
    command refuse every output before it writes any."""
    real = output_target(path)
    folder = _existing_folder(real.parent)
    try:
        fd, probe = tempfile.mkstemp(prefix=".snnc-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({_why(exc)})") from None
    return real


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`'s target; rename it onto the target on success.

    A symlink is written through (its target replaced, the link kept); a directory,
    FIFO or device is refused; an existing file keeps its permissions, a new one
    gets the umask's; OS failures are one-line `OutputError`s; temporary files
    left by a killed writer of the same path are removed."""
    shown, real = Path(path), output_target(path)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(real)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.{os.getpid()}.", suffix=".tmp", dir=real.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write here ({_why(exc)})") from None
    try:
        try:
            yield Path(tmp)
            os.chmod(tmp, _mode_for(real))
            os.replace(tmp, real)
        except OSError as exc:
            raise OutputError(f"{shown}: writing failed ({_why(exc)})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike):
    """`atomic_path` for several outputs committed together: every path is checked
    (`check_writable`) before the first byte is written, one temporary path per
    output is yielded, and they are renamed onto their targets only when the block
    succeeds, so a failure anywhere leaves every target as it was."""
    reals = [check_writable(p) for p in paths]
    if len(set(reals)) != len(reals):
        raise OutputError(f"outputs {', '.join(map(str, paths))} name the same file twice")
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p)) for p in paths]


def _mode_for(real: Path) -> int:
    try:
        return stat.S_IMODE(real.stat().st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _clean_stale(real: Path) -> None:
    """Remove `.NAME.<pid>.*.tmp` files whose writer is gone (or any older than an hour)."""
    now = time.time()
    for tmp in real.parent.glob(f".{glob.escape(real.name)}.*.tmp"):
        parts = tmp.name[len(real.name) + 2:].split(".")
        try:
            age = now - tmp.stat().st_mtime
            if parts[0].isdigit():
                stale = not _pid_alive(int(parts[0])) or age > STALE_AFTER_S
            else:  # written without a pid (older snnc): stale once it is a minute old
                stale = age > 60
            if stale:
                tmp.unlink()
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _existing_folder(folder: Path) -> Path:
    for up in (folder, *folder.parents):
        if up.is_dir():
            return up
    return folder


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a one-line refusal ('a directory', 'a FIFO', ...)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def write_json(path: str | os.PathLike, obj) -> None:
    """Write `obj` as indented JSON, atomically; NaN and infinities (not JSON) become null."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _finite(obj):
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


NUMERIC_KINDS = "biuf"  # npy dtypes we read: bool, integer, float (never objects, strings, records)


def read_npy(fp, available: int, what: str, error=ValueError, max_elements: int | None = None,
             limit_text: str = "the limit"):
    """One numeric .npy array from binary file `fp`, its header checked before anything is
    allocated: version 1 or 2, a numeric dtype, a non-negative shape whose bytes really
    follow (`available` bytes from the start), at most `max_elements` elements when given
    (`limit_text` names that limit in the message). Never unpickles. Raises `error` in one line."""
    import numpy as np

    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=10000)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=10000)
    else:
        raise error(f"{what}: npy format version {version} is not read")
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{what}: dtype {dtype} is not a numeric array (pickled objects are never read)")
    count = 1
    for n in shape:
        if not isinstance(n, int) or n < 0:
            raise error(f"{what}: bad shape {shape}")
        count *= n
    if max_elements is not None and count > max_elements:
        raise error(f"{what}: header declares shape {shape} ({count} elements), more than {limit_text}")
    nbytes, left = count * dtype.itemsize, available - fp.tell()
    if nbytes > left:
        raise error(f"{what}: header declares shape {shape} ({nbytes} bytes) but holds {left} bytes")
    return _read_body(fp, shape, fortran_order, dtype, count, nbytes, what, error)


NPY_CHUNK = 1 << 20  # bytes read at a time: an array is filled in place, never held twice


def _read_body(fp, shape, fortran_order, dtype, count, nbytes, what, error):
    """The array data after a checked header, read into the array in chunks (what
    np.lib.format.read_array does for a stream, without parsing the header again)."""
    import numpy as np

    arr = np.empty(count, dtype)
    raw = arr.view(np.uint8) if nbytes else None
    pos = 0
    while pos < nbytes:
        chunk = fp.read(min(NPY_CHUNK, nbytes - pos))
        if not chunk:
            raise error(f"{what}: array data ends after {pos} of {nbytes} bytes")
        raw[pos:pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
        pos += len(chunk)
    return arr.reshape(shape[::-1]).transpose() if fortran_order else arr.reshape(shape)


PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def plot_format(path) -> str:
    """The figure format a plot path's suffix asks for; `OutputError` for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise OutputError(f"{path}: plot suffix '{suffix}' is not written "
                          f"(use {', '.join(PLOT_FORMATS)})")
    return PLOT_FORMATS[suffix]
