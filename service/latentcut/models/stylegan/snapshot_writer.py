"""Writing latentcut's StyleGAN networks as snapshot pickles in NVIDIA's persistence layout (for tests and exchange).

Each network is pickled as NVIDIA's ``torch_utils.persistence`` does it:
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with ``meta`` =
``{type: 'class', version: 6, module_src, class_name, state}`` and ``state`` the module's ``__dict__``
(parameters, buffers, sub-modules, ``_init_args``, ``_init_kwargs``); tensors are pickled by torch
(``_rebuild_parameter``/``_rebuild_tensor_v2`` over ``torch.storage._load_from_bytes``). ``module_src`` is
a short stand-in text naming the classes NVIDIA's module defines (latentcut never executes it, and
writes none of NVIDIA's source). No ``torch_utils`` is needed to write or to read the result.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import torch

from latentcut.atomic import atomic_path
from latentcut.models.stylegan.pickle_reader import SG2_MODULE, SG3_MODULE

__all__ = ["snapshot_bytes", "write_snapshot"]

_PERSISTENCE_VERSION = 6
_STAND_IN_SOURCE = {
    SG2_MODULE: "# Written by latentcut in place of NVIDIA's training/networks_stylegan2.py (text only, never run).\n"
    "class MappingNetwork: ...\nclass SynthesisBlock: ...\nclass SynthesisNetwork: ...\nclass Generator: ...\n",
    SG3_MODULE: "# Written by latentcut in place of NVIDIA's training/networks_stylegan3.py (text only, never run).\n"
    "class MappingNetwork: ...\nclass SynthesisInput: ...\nclass SynthesisLayer: ...\nclass SynthesisNetwork: ...\n"
    "class Generator: ...\n",
}


class _GlobalName:
    """A reference to ``module.name`` pickled by name only (the module need not exist here)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __reduce__(self) -> str:
        return self.name

    def __call__(self, *args: Any) -> Any:  # pickle insists that a reduce function be callable
        raise TypeError(f"{self.module}.{self.name} is only a name to pickle")


_RECONSTRUCT = _GlobalName("torch_utils.persistence", "_reconstruct_persistent_obj")


class _Persistent:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RECONSTRUCT, (self.meta,))


_PythonPickler: Any = pickle._Pickler  # the Python pickler lets save_global be overridden


class _Pickler(_PythonPickler):
    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, _GlobalName):
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def _persistent(module: torch.nn.Module, source: str, init_kwargs: dict[str, Any]) -> _Persistent:
    children = {name: _persistent(child, source, {}) for name, child in module._modules.items() if child is not None}
    state: dict[str, Any] = {
        "training": False,
        "_parameters": dict(module._parameters),
        "_buffers": dict(module._buffers),
        "_non_persistent_buffers_set": set(module._non_persistent_buffers_set),
        "_backward_pre_hooks": collections.OrderedDict(),
        "_backward_hooks": collections.OrderedDict(),
        "_forward_hooks": collections.OrderedDict(),
        "_forward_pre_hooks": collections.OrderedDict(),
        "_state_dict_hooks": collections.OrderedDict(),
        "_load_state_dict_pre_hooks": collections.OrderedDict(),
        "_modules": children,
        "_init_args": (),
        "_init_kwargs": dict(init_kwargs),
    }
    for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "num_ws"):
        if isinstance(getattr(module, name, None), int):
            state[name] = getattr(module, name)
    meta = {
        "type": "class",
        "version": _PERSISTENCE_VERSION,
        "module_src": source,
        "class_name": "Generator" if init_kwargs else type(module).__name__,
        "state": state,
    }
    return _Persistent(meta)


def snapshot_bytes(
    generator: torch.nn.Module, module_name: str, init_kwargs: dict[str, Any], extra: dict[str, Any] | None = None
) -> bytes:
    """Return the bytes of a training snapshot (``G_ema``, ``G``, ``D``=None ...) holding ``generator``.

    ``init_kwargs`` are the constructor arguments ``generator`` was built with; ``module_name`` is
    ``training.networks_stylegan2`` or ``training.networks_stylegan3``; ``extra`` adds or replaces
    top-level entries (``training_set_kwargs``, ``progress`` ...).
    """
    if not init_kwargs:
        raise ValueError("init_kwargs must hold the generator's constructor arguments")
    network = _persistent(generator, _STAND_IN_SOURCE[module_name], init_kwargs)
    snapshot = {"G_ema": network, "G": network, "D": None, "augment_pipe": None, "training_set_kwargs": None, **(extra or {})}
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=4).dump(snapshot)
    return buffer.getvalue()


def write_snapshot(
    path: str | Path,
    generator: torch.nn.Module,
    module_name: str,
    init_kwargs: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write :func:`snapshot_bytes` to ``path`` (atomically) and return the path."""
    path = Path(path)
    data = snapshot_bytes(generator, module_name, init_kwargs, extra)
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path
