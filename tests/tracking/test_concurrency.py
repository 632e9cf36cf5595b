"""Several processes writing into one embedded store at the same time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelyard.client import Client

WRITER = """
import sys
import modelyard as yard
yard.set_uri(sys.argv[1])
with yard.start_run(name=f"writer-{sys.argv[2]}") as run:
    for i in range(10_000):
        yard.log_metric("m", float(i), step=i)
        if i % 2500 == 0:
            yard.flush()  # several commits per process, interleaved with the others
print(run.id)
"""


def test_eight_processes_log_into_one_store(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    Client(store).close()  # create the schema once; the race on an empty store is tested separately
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, store, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(8)
    ]
    run_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
        run_ids.append(out.decode().strip())
    client = Client(store)
    for run_id in run_ids:
        history = client.get_metric_history(run_id, "m")
        assert [m.step for m in history] == list(range(10_000))
        assert client.get_run(run_id).status == "FINISHED"
    client.close()
