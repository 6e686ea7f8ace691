"""A GPU's utilisation while a benchmark runs, sampled in a background thread (pynvml if installed, else nvidia-smi); "n/a" off CUDA."""

from __future__ import annotations

import shutil
import subprocess
import threading
from types import TracebackType

SAMPLE_EVERY_S = 0.1


def _nvml_reader(index: int):
    try:
        import pynvml  # from the nvidia-ml-py package; optional
    except ImportError:
        return None
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)


def _smi_reader(index: int):
    if shutil.which("nvidia-smi") is None:
        return None
    command = ["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    return lambda: float(subprocess.run(command, capture_output=True, text=True, timeout=5, check=True).stdout.split()[0])


class GpuUse:
    """``with GpuUse("cuda:0") as use: ...``; then ``use.text()``: the mean utilisation in percent, or "n/a".

    The index is CUDA's; nvidia-smi and NVML count in PCI order, which is the same unless
    ``CUDA_DEVICE_ORDER`` says otherwise (on a one-GPU machine it always is).
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = None
        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            self._read = _nvml_reader(index) or _smi_reader(index)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            try:
                self.samples.append(self._read())
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                continue

    def __enter__(self) -> GpuUse:
        if self._read is not None:
            self._thread = threading.Thread(target=self._sample, name="gpu-use", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def text(self) -> str:
        """Mean utilisation over the block, e.g. "97%"; "n/a" on a CPU or without pynvml or nvidia-smi."""
        if not self.samples:
            return "n/a"
        return f"{sum(self.samples) / len(self.samples):.0f}%"
