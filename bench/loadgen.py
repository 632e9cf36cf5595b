"""Fixed-rate (open-loop) HTTP load generator for the GET-run benchmark (f); prints one JSON line.

usage: loadgen.py get-run --tool modelyard|mlflow --url http://127.0.0.1:P [--token T]
                          [--rate 500] [--conns 32] [--duration 10] [--warmup 2]

Runs in the modelyard venv (httpx) and drives either server the same way. It first creates one
run with 10 params and 10 metrics through the server's REST API (modelyard: POST /api/v1/runs +
POST /api/v1/runs/{id}/batch; MLflow: experiments/create, runs/create, runs/log-batch), checks
that GET returns them, then sends GET requests at a fixed rate: request i is scheduled at
t0 + i/rate whatever happened before, queued to one of `conns` workers (one keep-alive connection
each), and its latency is measured from its *scheduled* time to the end of the response, so a
stalled server cannot hide behind the client waiting (no coordinated omission). A warm-up at the
same rate comes first and is not recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

PARAMS = {f"p{k}": str(k * 7 % 5) for k in range(10)}
METRICS = {f"m{k}": k / 10 for k in range(10)}


def prepare(tool: str, url: str, headers: dict[str, str]) -> tuple[str, str]:
    """Create the run to read; return (GET url, run id)."""
    ts = int(time.time() * 1000)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as c:

        def call(method: str, path: str, **kw) -> dict:
            r = c.request(method, path, **kw)
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:200]}")
            return r.json() if r.content else {}

        if tool == "modelyard":
            rid = uuid.uuid4().hex
            call("POST", "/api/v1/runs", json={"run_id": rid, "project": "bench", "name": "r0"})
            metrics = [[k, v, ts, 0] for k, v in METRICS.items()]
            call("POST", f"/api/v1/runs/{rid}/batch", json={"metrics": metrics, "params": PARAMS, "tags": {}})
            get = f"{url}/api/v1/runs/{rid}"
            run = call("GET", f"/api/v1/runs/{rid}")
            got_p, got_m = run.get("params", {}), run.get("metrics", {})
        else:
            exp = call("POST", "/api/2.0/mlflow/experiments/create", json={"name": "bench"})["experiment_id"]
            run = call(
                "POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": exp, "run_name": "r0", "start_time": ts}
            )
            rid = run["run"]["info"]["run_id"]
            call(
                "POST",
                "/api/2.0/mlflow/runs/log-batch",
                json={
                    "run_id": rid,
                    "metrics": [{"key": k, "value": v, "timestamp": ts, "step": 0} for k, v in METRICS.items()],
                    "params": [{"key": k, "value": v} for k, v in PARAMS.items()],
                },
            )
            get = f"{url}/api/2.0/mlflow/runs/get?run_id={rid}"
            data = call("GET", f"/api/2.0/mlflow/runs/get?run_id={rid}")["run"]["data"]
            got_p = {p["key"]: p["value"] for p in data.get("params", [])}
            got_m = {m["key"]: m["value"] for m in data.get("metrics", [])}
        if got_p != PARAMS or {k: float(v) for k, v in got_m.items()} != METRICS:
            raise RuntimeError(f"GET run does not return the logged params/metrics: {got_p} {got_m}")
        return get, rid


def pct(sorted_xs: list[float], q: float) -> float | None:
    if not sorted_xs:
        return None
    k = max(0, min(len(sorted_xs) - 1, math.ceil(q / 100 * len(sorted_xs)) - 1))  # nearest rank
    return sorted_xs[k]


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection sending a fixed GET request (a minimal client: httpx's
    async client costs ~4 ms of CPU per request, which on a small machine starves the server)."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.closed = True
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:  # type: ignore[override]
        self.buf += data
        done = self._parse()
        if done is not None and self.waiter and not self.waiter.done():
            self.waiter.set_result(done)

    def _parse(self) -> int | None:
        """The status once a whole response is buffered (and consume it), else None."""
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = bytes(self.buf[:head_end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip().lower()
        body_start = head_end + 4
        if "content-length" in headers:
            end = body_start + int(headers["content-length"])
            if len(self.buf) < end:
                return None
        elif "chunked" in headers.get("transfer-encoding", ""):
            pos = body_start
            while True:
                line_end = self.buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(self.buf[pos:line_end]).split(b";")[0], 16)
                pos = line_end + 2 + size + 2
                if len(self.buf) < pos:
                    return None
                if size == 0:
                    end = pos
                    break
        else:
            end = body_start
        del self.buf[:end]
        return status

    async def get(self) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(self.request)
        return await self.waiter


async def drive(url: str, headers: dict[str, str], rate: float, duration: float, conns: int) -> dict:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    path = u.path + (f"?{u.query}" if u.query else "")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench-loadgen\r\nAccept: */*\r\n{extra}\r\n"
    loop = asyncio.get_running_loop()

    async def connect() -> Conn:
        _, proto = await loop.create_connection(lambda: Conn(request.encode()), host, port)
        return proto

    n = max(1, int(rate * duration))
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    sched = [0.0] * n
    start = [0.0] * n
    end = [0.0] * n
    status: list[int | str] = [""] * n
    pool = [await connect() for _ in range(conns)]

    async def worker(k: int) -> None:
        while True:
            i = await queue.get()
            if i is None:
                return
            start[i] = time.perf_counter()
            try:
                if pool[k].closed:
                    pool[k] = await connect()
                status[i] = await asyncio.wait_for(pool[k].get(), 10.0)
            except Exception as e:  # noqa: BLE001
                status[i] = type(e).__name__
                if pool[k].transport is not None:
                    pool[k].transport.close()
                pool[k].closed = True
            end[i] = time.perf_counter()

    workers = [asyncio.create_task(worker(k)) for k in range(conns)]
    t0 = time.perf_counter() + 0.01
    for i in range(n):
        sched[i] = t = t0 + i / rate
        delay = t - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(i)
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=30.0)
    for w in pending:
        w.cancel()
    for c in pool:
        if c.transport is not None:
            c.transport.close()
    done = [i for i in range(n) if end[i]]
    ok = [i for i in done if status[i] == 200]
    errors: dict[str, int] = {}
    for i in range(n):
        kind = "not completed" if not end[i] else str(status[i])
        if kind != "200":
            errors[kind] = errors.get(kind, 0) + 1
    lat = sorted((end[i] - sched[i]) * 1000 for i in ok)
    svc = sorted((end[i] - start[i]) * 1000 for i in ok)
    lag = sorted((start[i] - sched[i]) * 1000 for i in done)
    last = max((end[i] for i in done), default=t0)
    return {
        "sent": n,
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "rps": len(ok) / (last - t0) if last > t0 else 0.0,
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "svc_p50_ms": pct(svc, 50),
        "svc_p99_ms": pct(svc, 99),
        "queue_p99_ms": pct(lag, 99),
    }


async def load(a, url: str, headers: dict[str, str]) -> tuple[dict, dict]:
    warm = await drive(url, headers, a.rate, a.warmup, a.conns) if a.warmup > 0 else {}
    res = await drive(url, headers, a.rate, a.duration, a.conns)
    return warm, res


def cmd_get_run(a) -> dict:
    headers = {"Authorization": f"Bearer {a.token}"} if a.token else {}
    url, rid = prepare(a.tool, a.url, headers)
    warm, res = asyncio.run(load(a, url, headers))
    res.update(
        {
            "tool": a.tool,
            "rate": a.rate,
            "conns": a.conns,
            "duration_s": a.duration,
            "warmup_errors": warm.get("errors", 0),
            "cpu_s": time.process_time(),
        }
    )
    return res


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("get-run")
    s.add_argument("--tool", choices=["modelyard", "mlflow"], required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--token")
    s.add_argument("--rate", type=float, default=500)
    s.add_argument("--conns", type=int, default=32)
    s.add_argument("--duration", type=float, default=10)
    s.add_argument("--warmup", type=float, default=2)
    a = p.parse_args()
    try:
        C.emit(cmd_get_run(a))
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        C.emit({"error": C.short_error(e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
