"""Reading NVIDIA StyleGAN2-ADA / StyleGAN3 snapshot pickles without running anything they contain.

A snapshot is a plain pickle of a dict (``G_ema``, ``G``, ``D``, ...). NVIDIA's networks are pickled by
``torch_utils.persistence``: each one as ``_reconstruct_persistent_obj(meta)``, where ``meta`` holds the
class name, the module's source code as text and the module's ``__dict__`` (parameters, buffers,
sub-modules, the constructor's ``_init_args``/``_init_kwargs``). Loading it with ``pickle`` would execute
that source. Here the unpickler resolves only an allowlist of globals: plain containers, torch's tensor
and storage rebuilding (torch's own ``weights_only`` allowlist; storages are read by
``torch.load(..., weights_only=True)``), numpy's array and scalar rebuilding, ``dnnlib.EasyDict`` (as a
dict), and ``_reconstruct_persistent_obj``, which is never called: each persistent object becomes a
frozen :class:`NetworkRecord` of what it records, and its source text is dropped unexecuted. Any other
global refuses the whole file, before anything from it is called.

An unpickler only reaches callables through ``find_class`` (``GLOBAL``, ``STACK_GLOBAL``, ``INST``,
``OBJ``, extension codes), and ``persistent_load`` is not defined, so ``REDUCE``, ``NEWOBJ`` and
``BUILD`` can only call what the allowlist returned; of that, only the rebuilding functions a snapshot
uses may be called (a type such as ``torch.FloatTensor`` may be named, never called with a size).

Nothing is allocated on the file's word: the reader is Python's own unpickler (``pickle._Unpickler``),
whose reads go through a file that refuses any declared length (``BINBYTES8``, ``BINUNICODE8``,
``FRAME``, ``BYTEARRAY8``) past what the file still holds; ``bytearray`` takes only bytes, numpy arrays
start empty, and a tensor storage's declared size must fit in the bytes that carry it. Then the
generator's constructor arguments are checked against the ranges latentcut's networks support
(``checked_settings``) before anything is built from them.
"""

from __future__ import annotations

import _codecs
import _compat_pickle
import collections
import io
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from struct import Struct
from typing import Any, BinaryIO, ClassVar

import numpy as np
import torch
from torch import _weights_only_unpickler

from latentcut.errors import ModelError, failure_line
from latentcut.files import open_regular
from latentcut.models.stylegan import stylegan2, stylegan3

try:  # numpy >= 2 moved its pickling helpers to numpy._core (numpy.core warns on access)
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct  # type: ignore[no-redef]
    from numpy.core.multiarray import scalar as _numpy_scalar  # type: ignore[no-redef]

__all__ = [
    "SG2_MODULE",
    "SG3_MODULE",
    "NetworkRecord",
    "NotASnapshotError",
    "RefusedPickleError",
    "build_generator",
    "checked_settings",
    "is_stylegan_snapshot",
    "read_snapshot",
]

struct_q = Struct("<Q")
SG2_MODULE = "training.networks_stylegan2"
SG3_MODULE = "training.networks_stylegan3"
_PERSISTENCE = ("torch_utils.persistence", "_reconstruct_persistent_obj")
_EASYDICT = {("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict")}

# The module a persistent class came from is not recorded (NVIDIA re-imports the source under a hashed
# name); the class definitions in the source text say which of NVIDIA's modules it is. stylegan2-ada's
# training/networks.py defines the same StyleGAN2 networks (same constructor, same state_dict keys).
_MODULE_MARKERS = (
    (re.compile(r"^class SynthesisInput\b", re.M), SG3_MODULE),
    (re.compile(r"^class SynthesisBlock\b", re.M), SG2_MODULE),
    (re.compile(r"^class AugmentPipe\b", re.M), "training.augment"),
)

# Attributes every torch.nn.Module carries in its __dict__; a record keeps what the network itself set.
_MODULE_INTERNALS = frozenset(
    {
        "training",
        "_parameters",
        "_buffers",
        "_non_persistent_buffers_set",
        "_modules",
        "_init_args",
        "_init_kwargs",
        "_backward_pre_hooks",
        "_backward_hooks",
        "_is_full_backward_hook",
        "_forward_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_hooks_always_called",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks",
        "_orig_module_src",
        "_orig_class_name",
    }
)


@dataclass(frozen=True)
class NetworkRecord:
    """What one of NVIDIA's persistent networks records: its class, constructor arguments and tensors."""

    module_name: str  # e.g. "training.networks_stylegan2" (inferred from the embedded source's classes)
    class_name: str  # e.g. "Generator"
    init_args: tuple[Any, ...]
    init_kwargs: dict[str, Any]
    parameters: dict[str, torch.Tensor] = field(repr=False)
    buffers: dict[str, torch.Tensor] = field(repr=False)  # persistent buffers only, as state_dict() keeps them
    modules: dict[str, NetworkRecord | None] = field(repr=False)
    attributes: dict[str, Any] = field(repr=False)  # other plain attributes the network set (z_dim, num_ws, ...)

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("a persistent network cannot be modified after it is rebuilt")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return the tensors under the dotted names NVIDIA's ``module.state_dict()`` gives them."""
        state: dict[str, torch.Tensor] = {}
        self._collect(state, "")
        return state

    def _collect(self, state: dict[str, torch.Tensor], prefix: str) -> None:
        for name, tensor in self.parameters.items():
            state[prefix + name] = tensor.detach()
        for name, tensor in self.buffers.items():
            state[prefix + name] = tensor.detach()
        for name, child in self.modules.items():
            if child is not None:
                child._collect(state, f"{prefix}{name}.")


def _module_name(source: Any) -> str:
    if isinstance(source, str):
        for marker, module_name in _MODULE_MARKERS:
            if marker.search(source):
                return module_name
    return "unknown"


def _tensors(value: Any, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(value, dict):
        raise pickle.UnpicklingError(f"a persistent network's {what} is {type(value).__name__}, not a dict")
    tensors = {}
    for name, tensor in value.items():
        if tensor is None:
            continue
        if not isinstance(tensor, torch.Tensor):
            raise pickle.UnpicklingError(f"a persistent network's {what}[{name!r}] is {type(tensor).__name__}, not a tensor")
        tensors[str(name)] = tensor
    return tensors


def _persistent_record(meta: Any) -> NetworkRecord:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: a record, no code run."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("a persistent object that is not a pickled class instance")
    state = meta["state"]
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    buffers = {name: t for name, t in _tensors(state.get("_buffers", {}), "_buffers").items() if name not in non_persistent}
    modules = state.get("_modules", {})
    if not isinstance(modules, dict) or not all(m is None or isinstance(m, NetworkRecord) for m in modules.values()):
        raise pickle.UnpicklingError("a persistent network has a sub-module that is not a persistent network")
    init_kwargs = state.get("_init_kwargs", {})
    return NetworkRecord(
        module_name=_module_name(meta.get("module_src")),
        class_name=str(meta.get("class_name")),
        init_args=tuple(state.get("_init_args", ())),
        init_kwargs=dict(init_kwargs) if isinstance(init_kwargs, dict) else {},
        parameters=_tensors(state.get("_parameters", {}), "_parameters"),
        buffers=buffers,
        modules=dict(modules),
        attributes={k: v for k, v in state.items() if k not in _MODULE_INTERNALS},
    )


class _BoundedFile:
    """A binary file whose reads refuse, before anything is allocated, a length past what it still holds."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle, self._size = handle, size

    def _check(self, n: int) -> None:
        left = self._size - self._handle.tell()
        if n > left:
            raise pickle.UnpicklingError(f"it declares {n:,} bytes where {max(left, 0):,} are left in the file")

    def read(self, n: int = -1) -> bytes:
        if n >= 0:
            self._check(n)
        return self._handle.read(n)

    def readline(self) -> bytes:
        return self._handle.readline()


_PythonUnpickler: Any = pickle._Unpickler  # Python's own, not the C one


class _BoundedUnpickler(_PythonUnpickler):
    """Python's unpickler with every declared length checked against the file (the C one allocates first)."""

    dispatch: ClassVar[dict[int, Any]] = dict(_PythonUnpickler.dispatch)

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._bounded = _BoundedFile(handle, size)
        super().__init__(self._bounded)

    def load_bytearray8(self) -> None:
        (length,) = struct_q.unpack(self.read(8))
        self._bounded._check(length)  # Python's unpickler makes bytearray(length) before it reads
        self.append(bytearray(self.read(length)))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("a persistent id, which a snapshot never holds")


# Storage classes by name and their element type (FloatStorage: float32); a pickled tensor's bytes are untyped.
_STORAGE_DTYPES = {name: dtype for dtype, name in torch.storage._dtype_to_storage_type_map().items()}
_STORAGE_DTYPES["UntypedStorage"] = torch.uint8


def _declared_storage_bytes(data: bytes) -> int:
    """The bytes the storages in ``torch.save``'s legacy format (what a pickled storage holds) declare.

    ``torch.load`` allocates each declared storage before it reads its bytes: a few bytes can ask for gigabytes.
    """
    declared = 0

    class Header(_BoundedUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            dtype = _STORAGE_DTYPES.get(name) if module in ("torch", "torch.storage") else None
            if dtype is None:
                raise pickle.UnpicklingError(f"a storage header names {module}.{name}")
            return dtype

        def persistent_load(self, pid: Any) -> Any:
            nonlocal declared
            if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
                raise pickle.UnpicklingError("a storage header that is not one storage")
            if type(pid[4]) is not int or pid[4] < 0:
                raise pickle.UnpicklingError(f"a storage of {pid[4]!r} elements")
            declared += pid[4] * torch._utils._element_size(pid[1])
            return None

    stream = io.BytesIO(data)
    for _ in range(5):  # magic number, protocol version, system info, the storage, its keys
        Header(stream, len(data)).load()
    return declared


def _storage_from_bytes(data: bytes) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``: the same bytes, sizes checked, read with ``weights_only=True``."""
    declared = _declared_storage_bytes(data)
    if declared > len(data):
        raise pickle.UnpicklingError(f"a tensor storage declares {declared:,} bytes but is carried in {len(data):,}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _array(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """Stand-in for numpy's ``multiarray._reconstruct``: only an empty plain ndarray (numpy fills it in BUILD)."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays can be rebuilt")
    if shape != (0,):  # what numpy pickles; BUILD then gives the real shape with its bytes
        raise pickle.UnpicklingError(f"a numpy array rebuilt at shape {str(shape)[:40]}, not (0,)")
    return np.asarray(_numpy_reconstruct(np.ndarray, shape, dtype_code))


def _bytearray(*args: Any) -> bytearray:
    """Stand-in for ``bytearray`` as pickles call it (protocols 2-4): from bytes or latin-1 text, never a size."""
    if args and isinstance(args[0], bytes if len(args) == 1 else str) and args[1:] in ((), ("latin-1",)):
        return bytearray(*args)
    raise pickle.UnpicklingError("bytearray called with something other than its bytes")


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` as protocol-2 pickles call it for bytes: latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {str(encoding)[:20]!r}, not latin1")
    return _codecs.encode(text, "latin1")


_TENSOR_REBUILDS = {
    torch._utils._rebuild_tensor,
    torch._utils._rebuild_tensor_v2,
    torch._utils._rebuild_parameter,
    torch._utils._rebuild_parameter_with_state,
}
if hasattr(torch._utils, "_rebuild_tensor_v3"):
    _TENSOR_REBUILDS.add(torch._utils._rebuild_tensor_v3)


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    """Stand-in for ``torch._tensor._rebuild_from_type_v2``: only with a tensor rebuild, as a plain tensor."""
    if func not in _TENSOR_REBUILDS or new_type is not torch.Tensor:
        raise pickle.UnpicklingError("a tensor rebuilt through something other than torch's tensor rebuilds")
    return torch._tensor._rebuild_from_type_v2(func, new_type, args, state)


def _scalar(dtype: Any, *data: Any) -> Any:
    """Stand-in for numpy's ``multiarray.scalar``, refusing object scalars."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("only numeric numpy scalars can be rebuilt")
    return _numpy_scalar(dtype, *data)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _array
        allowed[(module, "scalar")] = _scalar
    # numpy pickles dtypes of numeric scalars by their class (numpy >= 1.25): numpy.dtypes.Float32DType etc.
    for name in ("Float16DType", "Float32DType", "Float64DType", "Int32DType", "Int64DType", "BoolDType", "UInt8DType"):
        dtype_class = getattr(getattr(np, "dtypes", None), name, None)
        if dtype_class is not None:
            allowed[("numpy.dtypes", name)] = dtype_class
    return allowed


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {}
    # torch's own allowlist for torch.load(weights_only=True): tensor and storage rebuilding, dtypes,
    # torch.Size, OrderedDict, Counter, set, bytearray, _codecs.encode ...
    for full_name, value in _weights_only_unpickler._get_allowed_globals().items():
        module, _, name = full_name.rpartition(".")
        allowed[(module, name)] = value
    allowed[("torch.storage", "_load_from_bytes")] = _storage_from_bytes
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("builtins", "bytearray")] = _bytearray
    allowed[("_codecs", "encode")] = _latin1
    allowed[("torch._tensor", "_rebuild_from_type_v2")] = _rebuild_from_type
    allowed.update(_numpy_globals())
    allowed[_PERSISTENCE] = _persistent_record
    for easydict in _EASYDICT:
        allowed[easydict] = dict
    return allowed


def _callables() -> set[Any]:
    """What of the allowlist a pickle may call (``REDUCE``, ``INST``, ``OBJ``): rebuilds, never a bare type with a size."""
    numpy_types = [value for (module, _), value in _numpy_globals().items() if module == "numpy.dtypes"]
    return {
        dict,
        set,
        complex,
        collections.OrderedDict,
        collections.Counter,
        torch.Size,
        np.dtype,
        *numpy_types,
        _array,
        _scalar,
        _bytearray,
        _latin1,
        _storage_from_bytes,
        _persistent_record,
        _rebuild_from_type,
        *_TENSOR_REBUILDS,
    }


_NEW_OBJECTS = (dict, set, collections.OrderedDict, collections.Counter)  # NEWOBJ: a dict subclass such as EasyDict


class NotASnapshotError(ModelError):
    """A readable pickle that is not a StyleGAN training snapshot (``--trust-pickle`` may load it the unsafe way)."""


class RefusedPickleError(NotASnapshotError):
    """A pickle asks for a global outside the snapshot allowlist; nothing from it was called."""

    def __init__(self, message: str, global_name: str) -> None:
        super().__init__(message)
        self.global_name = global_name


class _Refused(pickle.UnpicklingError):
    def __init__(self, global_name: str) -> None:
        super().__init__(global_name)
        self.global_name = global_name


class _SnapshotUnpickler(_BoundedUnpickler):
    dispatch: ClassVar[dict[int, Any]] = dict(_BoundedUnpickler.dispatch)

    def __init__(self, handle: BinaryIO, size: int) -> None:
        super().__init__(handle, size)
        self._allowed = _allowed_globals()
        self._callable = _callables()

    def _called(self, func: Any) -> Any:
        if not any(func is allowed for allowed in self._callable):
            raise pickle.UnpicklingError(
                f"the pickle calls {getattr(func, '__name__', type(func).__name__)}, which a snapshot never calls"
            )
        return func

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._called(self.stack[-1])(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _instantiate(self, klass: Any, args: Any) -> None:
        self.append(self._called(klass)(*args))

    def load_newobj(self) -> None:
        args, cls = self.stack.pop(), self.stack.pop()
        if cls not in _NEW_OBJECTS or args:
            raise pickle.UnpicklingError(f"the pickle makes a new {getattr(cls, '__name__', '?')}, which a snapshot never does")
        self.append(cls.__new__(cls))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        if kwargs:
            raise pickle.UnpicklingError("the pickle makes a new object with keyword arguments, which a snapshot never does")
        self.load_newobj()

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles name Python 2 modules (__builtin__, copy_reg); name them as Python 3 does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def read_snapshot(path: str | Path) -> dict[str, Any]:
    """Return the top-level dict of a StyleGAN snapshot pickle, networks as :class:`NetworkRecord`.

    Raises ``ModelError`` (one line, naming the file) for a file that is not such a snapshot, and in
    particular for any global outside the allowlist; nothing from the file is called in that case.
    """
    path = Path(path)
    try:
        with open_regular(path) as handle:
            data = _SnapshotUnpickler(handle, os.fstat(handle.fileno()).st_size).load()
    except _Refused as refused:
        raise RefusedPickleError(
            f"{path}: refused: the pickle asks for {refused.global_name}, which a StyleGAN snapshot never contains; "
            "pass --trust-pickle only if you trust where this pickle came from",
            refused.global_name,
        ) from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except Exception as exc:  # a forged file reaches torch's and numpy's rebuilds with any values
        raise ModelError(f"{path}: not a readable StyleGAN snapshot ({failure_line(exc)})") from None
    if not isinstance(data, dict):
        raise NotASnapshotError(
            f"{path}: not a StyleGAN snapshot (the pickle holds a {type(data).__name__}, not a dict of networks); "
            "pass --trust-pickle only if you trust where this pickle came from"
        )
    return data


def is_stylegan_snapshot(path: str | Path) -> bool:
    """Return whether ``path`` reads as a snapshot with a ``G_ema`` network (False for any refused pickle)."""
    try:
        return isinstance(read_snapshot(path).get("G_ema"), NetworkRecord)
    except ModelError:
        return False


# The ranges latentcut's StyleGAN networks support, for every setting a snapshot gives their constructors:
# past them a network asks gigabytes a layer (w_dim 40,000), takes for ever to build (10^7 mapping
# layers) or fails deep inside torch (img_resolution 3). NVIDIA's own configurations sit well inside.
_WHOLE = {
    "z_dim": (1, 4096),
    "c_dim": (0, 100_000),
    "w_dim": (1, 4096),
    "img_channels": (1, 4),
    "channel_base": (1, 2**20),
    "channel_max": (1, 2048),
    "num_fp16_res": (0, 16),
    "num_layers": (1, 64),  # the mapping network's (NVIDIA: 8 or 2), and StyleGAN3's synthesis layers (14)
    "num_critical": (0, 63),
    "margin_size": (0, 256),
    "conv_kernel": (1, 15),
    "kernel_size": (1, 15),
    "filter_size": (1, 64),
    "lrelu_upsampling": (1, 16),
    "embed_features": (0, 4096),
    "layer_features": (1, 4096),
}
_REAL = {  # finite, within these bounds
    "lr_multiplier": (1e-9, 1e3),
    "w_avg_beta": (0.0, 1.0),
    "magnitude_ema_beta": (0.0, 1.0),
    "conv_clamp": (0.0, 1e9),
    "first_cutoff": (1e-3, 4096.0),
    "first_stopband": (1e-3, 4096.0),
    "last_stopband_rel": (1e-3, 64.0),
    "output_scale": (-1e6, 1e6),
}
_NULLABLE = {"embed_features", "layer_features", "conv_clamp", "w_avg_beta"}
_FLAGS = {"use_noise", "use_radial_filters", "channels_last", "fp16_channels_last"}
_CHOICES = {"architecture": ("orig", "skip", "resnet"), "activation": tuple(stylegan2.ACTIVATIONS)}
_MAX_RESOLUTION = 4096


def _checked_setting(name: str, value: Any, where: str) -> None:
    def bad(expected: str) -> ModelError:
        return ModelError(
            f"{where}: the generator's {name} is {str(value)[:40]}, not {expected}; this is no snapshot latentcut runs"
        )

    if value is None and name in _NULLABLE:
        return
    if name in ("mapping_kwargs", "synthesis_kwargs"):
        if value is not None and not isinstance(value, dict):
            raise bad("a dict of settings")
        for key, item in (value or {}).items():
            _checked_setting(str(key), item, where)
    elif name == "img_resolution":
        if type(value) is not int or not 4 <= value <= _MAX_RESOLUTION or value & (value - 1):
            raise bad(f"a power of two from 4 to {_MAX_RESOLUTION}")
    elif name in _WHOLE:
        low, high = _WHOLE[name]
        if type(value) is not int or not low <= value <= high:
            raise bad(f"a whole number from {low} to {high}")
    elif name in _REAL:
        least, most = _REAL[name]
        if type(value) not in (int, float) or not math.isfinite(value) or not least <= value <= most:
            raise bad(f"a number from {least:g} to {most:g}")
    elif name in _FLAGS:
        if type(value) is not bool:
            raise bad("true or false")
    elif name in _CHOICES:
        if value not in _CHOICES[name]:
            raise bad(f"one of {', '.join(_CHOICES[name])}")
    elif name == "resample_filter":
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 16:
            raise bad("a list of 1 to 16 numbers")
        if not all(type(v) in (int, float) and math.isfinite(v) and abs(v) <= 1e6 for v in value):
            raise bad("a list of finite numbers")
    elif name == "fused_modconv_default":
        if value not in (True, False, "inference_only"):
            raise bad("true, false or inference_only")
    else:
        raise ModelError(
            f"{where}: the generator's setting {name[:40]!r} is not one latentcut knows; this is no snapshot latentcut runs"
        )


def checked_settings(record: NetworkRecord, *, where: str = "snapshot") -> dict[str, Any]:
    """Return the constructor arguments of ``record`` once each is within what latentcut's networks support."""
    if record.init_args:
        raise ModelError(f"{where}: the generator was built with positional arguments; NVIDIA's snapshots name every setting")
    for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        if name not in record.init_kwargs:
            raise ModelError(f"{where}: the generator's settings name no {name}; this is no snapshot latentcut runs")
    for name, value in record.init_kwargs.items():
        _checked_setting(str(name), value, where)
    synthesis = {**(record.init_kwargs.get("synthesis_kwargs") or {}), **record.init_kwargs}
    if record.module_name == SG3_MODULE and synthesis.get("num_critical", 2) >= synthesis.get("num_layers", 14):
        raise ModelError(
            f"{where}: the generator has fewer synthesis layers than critical ones; this is no snapshot latentcut runs"
        )
    return dict(record.init_kwargs)


def build_generator(record: NetworkRecord, *, where: str = "snapshot") -> torch.nn.Module:
    """Return latentcut's network for ``record`` (a ``Generator`` record) with its weights loaded strictly."""
    key = (record.module_name, record.class_name)
    cls: type[torch.nn.Module]
    if key == (SG2_MODULE, "Generator"):
        cls = stylegan2.Generator
    elif key == (SG3_MODULE, "Generator"):
        cls = stylegan3.Generator
    else:
        raise ModelError(
            f"{where}: G_ema is {record.module_name}.{record.class_name}; latentcut runs StyleGAN2(-ADA) and StyleGAN3 Generators only"
        )
    settings = checked_settings(record, where=where)
    state = record.state_dict()
    try:
        with torch.device("meta"):  # shapes only, nothing allocated: the network must be the one whose weights the file holds
            shapes = {name: tuple(tensor.shape) for name, tensor in cls(**settings).state_dict().items()}
        if shapes != {name: tuple(tensor.shape) for name, tensor in state.items()}:
            differ = sorted(set(shapes) ^ set(state)) or [n for n in shapes if shapes[n] != tuple(state[n].shape)]
            raise ModelError(
                f"{where}: the weights do not fit latentcut's {record.class_name} with the recorded settings ({differ[0]})"
            )
        module = cls(**settings)
    except (TypeError, ValueError, ZeroDivisionError, RuntimeError) as exc:
        raise ModelError(f"{where}: the generator's settings are not ones latentcut runs ({failure_line(exc)})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).replace("\n", " ").replace("\t", "")[:400]
        raise ModelError(f"{where}: the weights do not fit latentcut's {record.class_name} ({first})") from None
    return module.eval().requires_grad_(False)
