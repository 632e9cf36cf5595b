"""pipelines: pipeline runs, step runs, step outputs and the step cache

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("dag", sa.Text(), nullable=False),
        sa.Column("cancel_requested", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_pipeline_runs_run_id_runs")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_pipeline_runs_project_id_projects")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_pipeline_runs")),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_runs_project_id_pipeline"), ["project_id", "pipeline"])

    op.create_table(
        "step_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=250), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("cached_from", sa.String(length=32), nullable=True),
        sa.Column("logs", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_step_runs_run_id_runs")),
        sa.ForeignKeyConstraint(["pipeline_run_id"], ["runs.id"], name=op.f("fk_step_runs_pipeline_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_step_runs")),
    )
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_runs_pipeline_run_id"), ["pipeline_run_id"])

    op.create_table(
        "step_outputs",
        sa.Column("step_run_id", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("ref", sa.String(length=250), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["step_run_id"], ["runs.id"], name=op.f("fk_step_outputs_step_run_id_runs")),
        sa.PrimaryKeyConstraint("step_run_id", "idx", name=op.f("pk_step_outputs")),
    )
    with op.batch_alter_table("step_outputs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_outputs_digest"), ["digest"])

    op.create_table(
        "step_cache",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=250), nullable=False),
        sa.Column("step_run_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_step_cache_project_id_projects")),
        sa.ForeignKeyConstraint(["step_run_id"], ["runs.id"], name=op.f("fk_step_cache_step_run_id_runs")),
        sa.PrimaryKeyConstraint("project_id", "cache_key", name=op.f("pk_step_cache")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("step_cache")
    with op.batch_alter_table("step_outputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_outputs_digest"))
    op.drop_table("step_outputs")
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_runs_pipeline_run_id"))
    op.drop_table("step_runs")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_project_id_pipeline"))
    op.drop_table("pipeline_runs")
