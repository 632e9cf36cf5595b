"""Artifact rows (path -> blob digest) and the blob references garbage collection keeps."""

from __future__ import annotations

import sqlalchemy as sa

from modelyard.entities import ArtifactInfo
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import now_ms, upsert

__all__ = ["ArtifactRows"]


class ArtifactRows:
    """Operations on artifact rows within one transaction."""

    conn: sa.Connection

    def put_artifacts(self, run_id: str, files: list[ArtifactInfo]) -> None:
        """Record artifacts (a path logged again points to its new blob)."""
        if not files:
            return
        stmt = upsert(self.conn, t.artifacts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size, "created_at": stmt.excluded.created_at},
        )
        created = now_ms()
        self.conn.execute(
            stmt,
            [
                {"run_id": run_id, "path": f.path, "digest": f.digest, "size": f.size, "created_at": created}
                for f in files
            ],
        )

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
        """Artifacts of a run, by path; ``prefix`` keeps those under a directory (or the file itself)."""
        a = t.artifacts
        query = sa.select(a.c.path, a.c.size, a.c.digest).where(a.c.run_id == run_id).order_by(a.c.path)
        if prefix:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(sa.or_(a.c.path == prefix, a.c.path.like(escaped + "/%", escape="\\")))
        return [ArtifactInfo(path=p, size=s, digest=d) for p, s, d in self.conn.execute(query)]

    def referenced_digests(self) -> set[str]:
        """Every blob digest some object references: artifacts, dataset files and model version files.

        Artifacts of deleted runs and files of deleted dataset versions count (they are restorable);
        purged dataset versions have no files left.
        """
        query = sa.union(
            sa.select(t.artifacts.c.digest),
            sa.select(t.dataset_files.c.digest),
            sa.select(t.model_version_files.c.digest),
            # Blobs of pipeline step outputs (revision 0005).
            sa.select(t.step_outputs.c.digest).where(
                t.step_outputs.c.digest.is_not(None), t.step_outputs.c.kind != "inline"
            ),
        )
        return set(self.conn.execute(query).scalars())
