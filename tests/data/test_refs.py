"""References (``NAME``, ``NAME@3``, ``NAME@latest``, ``NAME@sha:<prefix>``) and their resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.audit import Caller
from modelyard.blobs import BlobStore
from modelyard.data import DatasetRef, DatasetService, parse_ref
from modelyard.data._manifest import manifest_digest, select_files
from modelyard.entities import DatasetFile
from modelyard.errors import InvalidInputError
from modelyard.store.sql import SqlStore


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", DatasetRef("churn")),
        ("churn@latest", DatasetRef("churn")),
        ("churn-train.v2@3", DatasetRef("churn-train.v2", version=3)),
        ("churn@sha:ABCDEF12", DatasetRef("churn", sha="abcdef12")),
    ],
)
def test_parse(text: str, expected: DatasetRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text", ["", "@3", "churn@", "churn@0", "churn@-1", "churn@1.5", "churn@sha:abc", "churn@sha:xyz123", "a/b@1",
             "churn@3@4", "churn@champion", "churn@٣"],
)  # fmt: skip
def test_malformed_references_are_input_errors(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_ref(text)


def test_version_given_apart() -> None:
    assert parse_ref("churn", 3) == DatasetRef("churn", version=3)
    assert parse_ref("churn", "latest").is_latest
    assert str(parse_ref("churn", "sha:abcdef")) == "churn@sha:abcdef"
    with pytest.raises(InvalidInputError, match="not both"):
        parse_ref("churn@2", 3)


def test_select_files_by_glob_and_directory() -> None:
    files = [DatasetFile(path=p, size=1, digest="0" * 64) for p in ("a.csv", "d/b.csv", "d/c.txt", "e/f/g.txt")]
    assert [f.path for f in select_files(files, "*.csv")] == ["a.csv", "d/b.csv"]
    assert [f.path for f in select_files(files, "d")] == ["d/b.csv", "d/c.txt"]
    assert [f.path for f in select_files(files, ["e/", "a.csv"])] == ["a.csv", "e/f/g.txt"]
    assert select_files(files, None) == files


def test_an_ambiguous_digest_prefix_lists_the_candidates(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'm.db'}")
    blobs = BlobStore(str(tmp_path / "blobs"))
    digest = blobs.put_bytes(b"a").digest
    seen: dict[str, list[DatasetFile]] = {}
    pair: tuple[list[DatasetFile], list[DatasetFile]] | None = None
    for i in range(200_000):  # two manifests whose digests share 6 hex digits (a birthday search)
        files = [DatasetFile(path=f"f{i}", size=1, digest=digest)]
        prefix = manifest_digest(files)[:6]
        if prefix in seen:
            pair = (seen[prefix], files)
            break
        seen[prefix] = files
    assert pair is not None
    service = DatasetService(store, blobs, Caller(user="test"))
    try:
        first, _ = service.create_version("p", "d", pair[0])
        second, _ = service.create_version("p", "d", pair[1])
        with pytest.raises(InvalidInputError, match="ambiguous") as caught:
            service.get_version("p", f"d@sha:{first.digest[:6]}")
        assert "d@1" in str(caught.value) and "d@2" in str(caught.value)
        assert service.get_version("p", f"d@sha:{second.digest[:12]}").version == 2
        # the same content in two versions is not ambiguous: the newest wins
        third, created = service.create_version("p", "d", pair[0])
        assert created and third.version == 3 and third.digest == first.digest
        with pytest.raises(InvalidInputError, match="ambiguous"):
            service.get_version("p", f"d@sha:{first.digest[:6]}")
        assert service.get_version("p", f"d@sha:{first.digest}").version == 3
    finally:
        store.close()
