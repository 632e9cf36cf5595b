from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui._env import UiEnv
from tests.ui._seed import seed


@pytest.fixture
def env(tmp_path: Path) -> Iterator[UiEnv]:
    e = UiEnv(tmp_path)
    with e.http:
        e.tracking.create_project("p1")
        yield e
    e.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[UiEnv]:
    """The seeded ``demo`` project: runs, artifacts, a dataset, a model and a pipeline run."""
    e = UiEnv(tmp_path)
    with e.http:
        e.ids = seed(e)
        yield e
    e.close()
