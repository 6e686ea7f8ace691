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

``pickle.Unpickler`` only reaches callables through ``find_class`` (``GLOBAL``, ``STACK_GLOBAL``,
``INST``, ``OBJ``, extension codes), and ``persistent_load`` is not defined, so ``REDUCE``, ``NEWOBJ``
and ``BUILD`` can only call what the allowlist returned.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import _weights_only_unpickler

from latentcut.errors import ModelError

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
    "is_stylegan_snapshot",
    "read_snapshot",
]

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


def _storage_from_bytes(data: bytes) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``: the same bytes, read with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _array(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """Stand-in for numpy's ``multiarray._reconstruct``: only a plain ndarray (numpy fills it in BUILD)."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays can be rebuilt")
    return np.asarray(_numpy_reconstruct(np.ndarray, shape, dtype_code))


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
    allowed.update(_numpy_globals())
    allowed[_PERSISTENCE] = _persistent_record
    for easydict in _EASYDICT:
        allowed[easydict] = dict
    return allowed


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


class _SnapshotUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, allowed: dict[tuple[str, str], Any]) -> None:
        super().__init__(file)
        self._allowed = allowed

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
        with path.open("rb") as handle:
            data = _SnapshotUnpickler(handle, _allowed_globals()).load()
    except _Refused as refused:
        raise RefusedPickleError(
            f"{path}: refused: the pickle asks for {refused.global_name}, which a StyleGAN snapshot never contains; "
            "pass --trust-pickle only if you trust where this pickle came from",
            refused.global_name,
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, RuntimeError, IndexError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: not a readable StyleGAN snapshot ({reason})") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read it ({exc.strerror or exc})") from None
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


def build_generator(record: NetworkRecord, *, where: str = "snapshot") -> torch.nn.Module:
    """Return latentcut's network for ``record`` (a ``Generator`` record) with its weights loaded strictly."""
    from latentcut.models.stylegan import stylegan2, stylegan3

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
    try:
        module = cls(*record.init_args, **record.init_kwargs)
    except TypeError as exc:
        raise ModelError(f"{where}: the generator's settings are not ones latentcut knows ({exc})") from None
    try:
        module.load_state_dict(record.state_dict(), strict=True)
    except RuntimeError as exc:
        first = str(exc).replace("\n", " ").replace("\t", "")[:400]
        raise ModelError(f"{where}: the weights do not fit latentcut's {record.class_name} ({first})") from None
    return module.eval().requires_grad_(False)
