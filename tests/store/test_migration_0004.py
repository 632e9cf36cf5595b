"""Revision 0004 (models) upgrades a 0003 database with data in it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import yaml

from modelyard.audit import Caller
from modelyard.blobs import BlobStore
from modelyard.data import DatasetService
from modelyard.entities import DatasetFile
from modelyard.registry import RegistryService
from modelyard.store.sql import HEAD_REVISION, SqlStore, current_revision, upgrade
from tests.store.conftest import insert_project_and_run, run_alembic

_MODEL_TABLES = {
    "registered_models",
    "model_versions",
    "model_version_files",
    "model_aliases",
    "model_environments",
    "promotion_requests",
}
_RUN_ID = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"


def _log_package(store: SqlStore, blobs: BlobStore) -> None:
    """A package on the old run, as log_model leaves it: model files plus model.yaml as artifacts."""
    weights = blobs.put_bytes(b"weights")
    meta = {
        "flavor": "sklearn",
        "unsafe_format": False,
        "requirements": ["scikit-learn==1.5.2"],
        "signature": None,
        "files": {"model.skops": {"digest": weights.digest, "size": weights.size}},
    }
    described = blobs.put_bytes(yaml.safe_dump(meta).encode())
    from modelyard.entities import ArtifactInfo

    with store.write() as tx:
        tx.put_artifacts(
            _RUN_ID,
            [
                ArtifactInfo(path="model/model.skops", size=weights.size, digest=weights.digest),
                ArtifactInfo(path="model/model.yaml", size=described.size, digest=described.digest),
            ],
        )


def _check_upgrade(url: str, blobs: BlobStore) -> None:
    engine = sa.create_engine(url)
    try:
        run_alembic(engine, "upgrade", "0003")
        with engine.begin() as conn:
            insert_project_and_run(conn, _RUN_ID)
        store = SqlStore(engine)
        info = blobs.put_bytes(b"a,b\n1,2\n")
        DatasetService(store, blobs, Caller(user="ann")).create_version(
            "churn", "train", [DatasetFile(path="t.csv", **info._asdict())]
        )
        assert not _MODEL_TABLES & set(sa.inspect(engine).get_table_names())
        assert upgrade(engine) == "0003"
        assert current_revision(engine) == HEAD_REVISION
        assert _MODEL_TABLES <= set(sa.inspect(engine).get_table_names())
        store = SqlStore.open(url)
        try:
            _log_package(store, blobs)
            registry = RegistryService(store, blobs, Caller(user="ann"))
            version = registry.register_version("churn", "Churn", run_id=_RUN_ID)
            assert (version.version, version.flavor, version.requirements) == (1, "sklearn", ["scikit-learn==1.5.2"])
            registry.set_alias("churn", "churn", "champion", 1)
            assert registry.get_version("churn", "churn@champion").run_id == _RUN_ID
            assert DatasetService(store, blobs, Caller(user="ann")).get_version("churn", "train").version == 1
        finally:
            store.close()
        run_alembic(engine, "downgrade", "0003")
        assert not _MODEL_TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM dataset_versions")).scalar() == 1
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_0003_to_0004_keeps_data_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'old.db'}", BlobStore(str(tmp_path / "blobs")))


def test_upgrade_0003_to_0004_keeps_data_on_postgres(empty_postgres_database: str, tmp_path: Path) -> None:
    _check_upgrade(empty_postgres_database, BlobStore(str(tmp_path / "blobs")))
