"""Tests of system metrics sampling into runs (a real store, real psutil readings)."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelyard as yard
from modelyard.client import Client
from modelyard.settings import Settings
from modelyard.tracking._system_metrics import SystemMetricsMonitor

CORE_METRICS = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/process_memory_rss_megabytes",
}
IO_METRICS = {
    "system/disk_read_megabytes",
    "system/disk_write_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}


@pytest.fixture
def fast_fluent(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Client:
    """The fluent API over a fresh store, sampling system metrics every 0.1 s."""
    monkeypatch.setenv("MODELYARD_SYSTEM_METRICS_INTERVAL", "0.1")
    client: Client = request.getfixturevalue("fluent")
    return client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """A client over a fresh embedded store."""
    c = Client(str(tmp_path / "store"), settings=Settings(home=tmp_path / "home", project="test"))
    try:
        yield c
    finally:
        c.close()


def monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("modelyard-system-metrics")]


def test_start_run_with_system_metrics(fast_fluent: Client) -> None:
    assert fast_fluent.settings.system_metrics_interval == 0.1
    with yard.start_run(log_system_metrics=True) as run:
        monitor = run._monitor
        assert isinstance(monitor, SystemMetricsMonitor)
        time.sleep(0.5)
        assert monitor.running

    assert not monitor.running
    assert monitor_threads() == []
    logged = fast_fluent.get_run(run.id)
    assert CORE_METRICS <= set(logged.metrics)
    assert logged.metrics["system/system_memory_usage_megabytes"] > 0
    assert 0 < logged.metrics["system/system_memory_usage_percentage"] <= 100
    assert logged.metrics["system/process_memory_rss_megabytes"] > 0
    assert 0 <= logged.metrics["system/cpu_utilization_percentage"] <= 100
    history = fast_fluent.get_metric_history(run.id, "system/cpu_utilization_percentage")
    assert len(history) >= 3
    assert [m.step for m in history] == list(range(len(history)))


def test_short_run_still_gets_a_final_sample(client: Client) -> None:
    run = client.create_run("short")
    monitor = SystemMetricsMonitor(client, run.id, interval=60.0)
    monitor.stop()  # before start: nothing to do
    monitor.start()
    monitor.start()  # already started: no second thread
    assert len(monitor_threads()) == 1
    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 5  # stop wakes the thread instead of waiting an interval
    monitor.stop()  # idempotent
    assert monitor_threads() == []

    history = client.get_metric_history(run.id, "system/system_memory_usage_megabytes")
    assert [m.step for m in history] == [0, 1]  # the first sample and the final one
    metrics = client.get_run(run.id).metrics
    assert CORE_METRICS <= set(metrics)
    for key in IO_METRICS & set(metrics):
        assert metrics[key] >= 0


def _fake_nvml(*, broken: bool = False, fail_init: bool = False) -> types.ModuleType:
    nvml: Any = types.ModuleType("pynvml")
    calls: list[str] = []

    def init() -> None:
        calls.append("init")
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def utilization(handle: int) -> Any:
        if broken:
            raise RuntimeError("GPU is lost")
        return types.SimpleNamespace(gpu=40 + handle)

    nvml.calls = calls
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: calls.append("shutdown")
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetUtilizationRates = utilization
    nvml.nvmlMemory_v2 = 0x02000028

    def memory(handle: int, version: int = 1) -> Any:
        # v2 leaves driver-reserved memory out of "used", as nvidia-smi does; the monitor prefers it.
        used = 2_000_000_000 if version == nvml.nvmlMemory_v2 else 2_500_000_000
        return types.SimpleNamespace(used=used, total=8_000_000_000)

    nvml.nvmlDeviceGetMemoryInfo = memory
    return nvml  # type: ignore[no-any-return]


def test_gpu_metrics_from_nvml(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = _fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    run = client.create_run("gpu")
    monitor = SystemMetricsMonitor(client, run.id, interval=60.0)
    monitor.start()
    monitor.stop()

    metrics = client.get_run(run.id).metrics
    assert metrics["system/gpu_0_utilization_percentage"] == 40
    assert metrics["system/gpu_1_utilization_percentage"] == 41
    assert metrics["system/gpu_1_memory_usage_megabytes"] == 2000
    assert metrics["system/gpu_0_memory_usage_percentage"] == 25
    assert nvml.calls == ["init", "shutdown"]


@pytest.mark.parametrize("kind", ["broken", "fail_init"])
def test_broken_nvml_is_skipped_silently(client: Client, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(**{kind: True}))
    run = client.create_run("gpu")
    monitor = SystemMetricsMonitor(client, run.id, interval=60.0)
    monitor.start()
    monitor.stop()

    metrics = client.get_run(run.id).metrics
    assert CORE_METRICS <= set(metrics)
    assert "system/gpu_0_utilization_percentage" not in metrics
    if kind == "broken":  # memory still readable, utilization not
        assert metrics["system/gpu_0_memory_usage_megabytes"] == 2000


def test_real_gpus_when_nvml_is_installed(client: Client) -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - no driver here
        pytest.skip(f"NVML unavailable: {exc}")
    if not count:
        pytest.skip("no GPU")
    run = client.create_run("gpu")
    monitor = SystemMetricsMonitor(client, run.id, interval=60.0)
    monitor.start()
    monitor.stop()
    metrics = client.get_run(run.id).metrics
    for i in range(count):
        assert 0 <= metrics[f"system/gpu_{i}_utilization_percentage"] <= 100
        assert metrics[f"system/gpu_{i}_memory_usage_megabytes"] >= 0
        assert 0 <= metrics[f"system/gpu_{i}_memory_usage_percentage"] <= 100
