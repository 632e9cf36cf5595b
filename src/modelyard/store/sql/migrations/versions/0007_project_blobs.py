"""project blobs: blobs a project proved it holds by uploading their bytes through the server

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "project_blobs",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_project_blobs_project_id_projects")),
        sa.PrimaryKeyConstraint("project_id", "digest", name=op.f("pk_project_blobs")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("project_blobs")
