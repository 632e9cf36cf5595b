"""Start, watch and stop the tracking servers for the server benchmarks (e, f, g).

Runs in the orchestrator (modelyard venv: psutil is available there). Each server is its own
process group in a fresh temp dir under /tmp, started with its tool's own venv:

- modelyard: `.venv/bin/modelyard server [--no-auth] --port P --store <tmp>/home`
  (MODELYARD_HOME=<tmp>/home; default settings otherwise: 1 worker);
- MLflow: `bench/.venv-mlflow/bin/mlflow server --backend-store-uri sqlite:///<tmp>/mlflow.db --port P`
  (default settings otherwise: 4 uvicorn workers plus a job runner).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import _common as C
import psutil

HEALTH_TIMEOUT_S = 180.0  # MLflow's 4 workers take ~30 s to import on 2 CPUs
TOKEN_RE = re.compile(r"API token:\s*(myd_[A-Za-z0-9_\-]+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    tool: str
    tmp: Path
    port: int
    proc: subprocess.Popen
    t_spawn: float
    out_path: Path
    err_path: Path
    start_s: float | None = None  # spawn -> first /health 200
    token: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, n: int = 8) -> str:
        lines = []
        for p in (self.err_path, self.out_path):
            try:
                lines += [ln for ln in p.read_text(errors="replace").splitlines() if ln.strip()]
            except OSError:
                pass
        lines = [ln for ln in lines if "Deprecat" not in ln and "from starlette" not in ln]
        return " | ".join(lines[-n:])[:400]


def server_cmd(tool: str, tmp: Path, port: int, auth: bool) -> tuple[list[str], dict[str, str]]:
    if tool == "modelyard":
        home = tmp / "home"
        cmd = [str(C.MODELYARD_CLI), "server", "--port", str(port), "--store", str(home)]
        if not auth:
            cmd.append("--no-auth")
        return cmd, C.tool_env({"MODELYARD_HOME": str(home)})
    if auth:
        raise ValueError("MLflow is measured with its default (no auth) only")
    cmd = [str(C.MLFLOW_CLI), "server", "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db", "--port", str(port)]
    return cmd, C.tool_env()


def start(tool: str, tmp: Path, *, auth: bool = False, timeout: float = HEALTH_TIMEOUT_S) -> Server:
    """Spawn the server and wait until /health answers 200 (raises C.SideError if it never does)."""
    port = free_port()
    cmd, env = server_cmd(tool, tmp, port, auth)
    n = len(list(tmp.glob("server-*.out")))
    out_path, err_path = tmp / f"server-{n}.out", tmp / f"server-{n}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=tmp, start_new_session=True
        )
    srv = Server(tool, tmp, port, proc, t0, out_path, err_path)
    try:
        srv.start_s = wait_health(srv, timeout)
        if auth:
            srv.token = read_token(srv)
    except BaseException:
        stop(srv)
        raise
    return srv


def wait_health(srv: Server, timeout: float) -> float:
    url = srv.url + "/health"
    deadline = srv.t_spawn + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - srv.t_spawn
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if srv.proc.poll() is not None:
            raise C.SideError(f"{srv.tool} server exited with code {srv.proc.returncode}: {srv.tail()}")
        if time.perf_counter() > deadline:
            raise C.SideError(f"{srv.tool} server: no /health 200 within {timeout:.0f} s: {srv.tail()}")
        time.sleep(0.005)


def read_token(srv: Server, timeout: float = 10.0) -> str:
    """The one-time admin API token the modelyard server prints on first start."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        m = TOKEN_RE.search(srv.out_path.read_text(errors="replace"))
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise C.SideError(f"no 'API token: myd_...' line in the server's stdout: {srv.tail()}")


def tree(srv: Server) -> list[psutil.Process]:
    """The server process, its descendants, and anything else in its process group.

    MLflow's job runner starts huey consumers that outlive their parent and are re-parented to
    init, so children() alone misses them; they stay in the server's process group.
    """
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(srv.proc.pid)
        for p in [root, *root.children(recursive=True)]:
            found[p.pid] = p
    except psutil.NoSuchProcess:
        pass
    for p in psutil.process_iter():
        try:
            if p.pid not in found and os.getpgid(p.pid) == srv.proc.pid:
                found[p.pid] = p
        except (ProcessLookupError, psutil.Error):
            pass
    return list(found.values())


def wait_idle(srv: Server, quiet_s: float = 3.0, max_s: float = 90.0, cpu_limit: float = 10.0) -> float:
    """Wait until the whole process tree used < cpu_limit % of one CPU for quiet_s in a row.

    Returns the seconds waited. MLflow's workers may still be starting when the first one answers
    /health; this keeps their start-up out of the "idle" sample.
    """
    t0 = time.perf_counter()
    quiet = 0.0
    last = _cpu_time(srv)
    while time.perf_counter() - t0 < max_s:
        time.sleep(0.5)
        now = _cpu_time(srv)
        used = (now - last) / 0.5 * 100
        last = now
        quiet = quiet + 0.5 if used < cpu_limit else 0.0
        if quiet >= quiet_s:
            break
    return time.perf_counter() - t0


def _cpu_time(srv: Server) -> float:
    total = 0.0
    for p in tree(srv):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def memory(srv: Server) -> dict:
    """RSS and PSS (MB) summed over the server process and all its children."""
    rss = pss = 0
    procs = tree(srv)
    for p in procs:
        try:
            mi = p.memory_full_info()
            rss += mi.rss
            pss += getattr(mi, "pss", mi.rss)
        except psutil.AccessDenied:
            rss += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return {"rss_mb": rss / 1e6, "pss_mb": pss / 1e6, "procs": len(procs)}


def stop(srv: Server) -> None:
    """SIGTERM the server's own process group, then SIGKILL what is left of it."""
    if srv.proc.poll() is None:
        try:
            os.killpg(srv.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            srv.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(srv.proc.pid, signal.SIGKILL)  # stragglers (workers) of this group only
    except (ProcessLookupError, PermissionError):
        pass
    try:
        srv.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
