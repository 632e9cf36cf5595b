"""System metrics of a run: CPU, memory, disk, network and GPU, sampled by a background thread.

``start_run(log_system_metrics=True)`` starts a :class:`SystemMetricsMonitor`; ending the run
stops it. Metrics are logged with the ``system/`` prefix, one step per sample. GPU metrics need
NVIDIA's NVML bindings (``pip install modelyard[gpu]``); without them, or without a GPU, they are
silently left out. This module is imported only when system metrics are requested.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from modelyard.client import Client

__all__ = ["SystemMetricsMonitor"]

_log = logging.getLogger(__name__)
_MB = 1e6  # megabytes, as MLflow reports them
_JOIN_TIMEOUT = 10.0


class SystemMetricsMonitor:
    """Samples system metrics every ``interval`` seconds into a run, from a daemon thread.

    Example::

        monitor = SystemMetricsMonitor(client, run.id, interval=1.0)
        monitor.start()
        ...                  # train
        monitor.stop()       # takes one last sample, so even a short run has data

    Metrics (all prefixed ``system/``): ``cpu_utilization_percentage``,
    ``system_memory_usage_megabytes``, ``system_memory_usage_percentage``,
    ``disk_usage_percentage``, ``disk_usage_megabytes`` (the disk of the working directory),
    ``disk_read_megabytes``, ``disk_write_megabytes``, ``network_receive_megabytes``,
    ``network_transmit_megabytes`` (all four since ``start()``), ``process_memory_rss_megabytes``,
    and per GPU ``gpu_{i}_utilization_percentage``, ``gpu_{i}_memory_usage_megabytes`` and
    ``gpu_{i}_memory_usage_percentage``.
    """

    def __init__(self, client: Client, run_id: str, interval: float = 5.0) -> None:
        """Prepare to sample into run ``run_id`` through ``client`` every ``interval`` seconds."""
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval!r}.")
        self.client = client
        self.run_id = run_id
        self.interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one sample at a time, so steps stay unique and ordered
        self._thread: threading.Thread | None = None
        self._step = 0
        self._path = "."
        self._process: psutil.Process | None = None
        self._disk_base: Any = None
        self._net_base: Any = None
        self._gpu: _Gpus | None = None

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start sampling (the first sample is taken right away); a no-op if already started."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._path = _guard(os.getcwd) or "."
        self._process = _guard(psutil.Process)
        psutil.cpu_percent(interval=None)  # the first call only primes the counter
        self._disk_base = _guard(psutil.disk_io_counters)
        self._net_base = _guard(psutil.net_io_counters)
        self._gpu = _Gpus.open()
        self._thread = threading.Thread(
            target=self._loop, name=f"modelyard-system-metrics-{self.run_id[:8]}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then take one final sample; a no-op if not running."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=max(_JOIN_TIMEOUT, self.interval))
        self._thread = None
        self._sample()
        if self._gpu is not None:
            self._gpu.close()
            self._gpu = None

    def _loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def _sample(self) -> None:
        with self._lock:
            try:
                metrics = self.collect()
                if metrics:
                    self.client.log_metrics(self.run_id, metrics, step=self._step)
                    self._step += 1
            except Exception:  # noqa: BLE001 - a sampling thread must never die with a traceback
                _log.debug("system metrics sample failed for run %s", self.run_id, exc_info=True)

    def collect(self) -> dict[str, float]:
        """One sample of every available metric, keyed ``system/...``."""
        out: dict[str, float] = {}
        cpu = _guard(lambda: psutil.cpu_percent(interval=None))
        if cpu is not None:
            out["system/cpu_utilization_percentage"] = float(cpu)
        memory = _guard(psutil.virtual_memory)
        if memory is not None:
            out["system/system_memory_usage_megabytes"] = (memory.total - memory.available) / _MB
            out["system/system_memory_usage_percentage"] = float(memory.percent)
        disk = _guard(lambda: psutil.disk_usage(self._path))
        if disk is not None:
            out["system/disk_usage_percentage"] = float(disk.percent)
            out["system/disk_usage_megabytes"] = disk.used / _MB
        io = _guard(psutil.disk_io_counters)
        if io is not None and self._disk_base is not None:
            out["system/disk_read_megabytes"] = max(io.read_bytes - self._disk_base.read_bytes, 0) / _MB
            out["system/disk_write_megabytes"] = max(io.write_bytes - self._disk_base.write_bytes, 0) / _MB
        net = _guard(psutil.net_io_counters)
        if net is not None and self._net_base is not None:
            out["system/network_receive_megabytes"] = max(net.bytes_recv - self._net_base.bytes_recv, 0) / _MB
            out["system/network_transmit_megabytes"] = max(net.bytes_sent - self._net_base.bytes_sent, 0) / _MB
        process = self._process
        if process is not None:
            rss = _guard(lambda: process.memory_info().rss)
            if rss is not None:
                out["system/process_memory_rss_megabytes"] = rss / _MB
        if self._gpu is not None:
            out.update(self._gpu.collect())
        return out


class _Gpus:
    """NVIDIA GPUs through NVML (``pynvml``, from the ``nvidia-ml-py`` package)."""

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self.nvml = nvml
        self.handles = handles

    @classmethod
    def open(cls) -> _Gpus | None:
        """NVML with at least one device, or ``None`` (not installed, no driver, no GPU)."""
        try:
            nvml = importlib.import_module("pynvml")
            nvml.nvmlInit()
        except Exception:  # noqa: BLE001 - ImportError, or NVMLError without a driver
            return None
        try:
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - a broken driver: no GPU metrics
            handles = []
        if not handles:
            _guard(nvml.nvmlShutdown)
            return None
        return cls(nvml, handles)

    def collect(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            util = _guard(lambda h=handle: self.nvml.nvmlDeviceGetUtilizationRates(h))
            if util is not None:
                out[f"system/gpu_{i}_utilization_percentage"] = float(util.gpu)
            memory = self._memory(handle)
            if memory is not None:
                out[f"system/gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
                if memory.total:
                    out[f"system/gpu_{i}_memory_usage_percentage"] = 100.0 * memory.used / memory.total
        return out

    def _memory(self, handle: Any) -> Any:
        # NVML's v2 memory info leaves driver-reserved memory out of "used", as nvidia-smi does.
        version = getattr(self.nvml, "nvmlMemory_v2", None)
        if version is not None:
            memory = _guard(lambda: self.nvml.nvmlDeviceGetMemoryInfo(handle, version=version))
            if memory is not None:
                return memory
        return _guard(lambda: self.nvml.nvmlDeviceGetMemoryInfo(handle))

    def close(self) -> None:
        _guard(self.nvml.nvmlShutdown)


def _guard(read: Any) -> Any:
    """``read()``, or ``None`` when it fails (a metric this machine cannot report)."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - psutil and NVML raise their own error types
        return None
