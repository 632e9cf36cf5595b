"""The HTTP client rides out a server restart: retries with backoff, and no write is applied twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.conftest import ServerProcess

from modelyard.client import Client
from modelyard.settings import Settings


def test_writes_retry_across_a_server_restart_without_doubling(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "srv", "--no-auth")
    settings = Settings(home=tmp_path / "home", project="retry", http_retries=8)
    client = Client(server.url, settings=settings)
    run = client.create_run("survivor")
    client.backend.log_batch(run.id, [("m", float(i), 1000 + i, i) for i in range(100)])
    server.stop()
    restarted: list[ServerProcess] = []

    def restart() -> None:
        time.sleep(1.0)
        restarted.append(ServerProcess(tmp_path / "srv", "--no-auth", port=server.port))

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        # Sent while the server is down: retried with backoff until it is back.
        client.backend.log_batch(run.id, [("m", float(i), 1000 + i, i) for i in range(100, 200)])
        thread.join()
        history = client.get_metric_history(run.id, "m")
        assert [m.step for m in history] == list(range(200))
    finally:
        thread.join()
        client.close()
        for proc in restarted:
            proc.stop()
