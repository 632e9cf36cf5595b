"""scheduling: registered pipelines, schedules, triggers, the queue of pipeline runs, worker heartbeats

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "registered_pipelines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_registered_pipelines_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_pipelines")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_registered_pipelines_project_id_name")),
    )
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("missed", sa.String(length=16), nullable=False),
        sa.Column("next_fire", sa.BigInteger(), nullable=False),
        sa.Column("last_fire", sa.BigInteger(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("creator", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["registered_pipelines.id"],
            name=op.f("fk_pipeline_schedules_pipeline_id_registered_pipelines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_schedules")),
        sa.UniqueConstraint("pipeline_id", name=op.f("uq_pipeline_schedules_pipeline_id")),
    )
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_schedules_enabled_next_fire"), ["enabled", "next_fire"])

    op.create_table(
        "pipeline_triggers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("last_seen", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("creator", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["registered_pipelines.id"],
            name=op.f("fk_pipeline_triggers_pipeline_id_registered_pipelines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_triggers")),
        sa.UniqueConstraint("pipeline_id", "kind", "source", name=op.f("uq_pipeline_triggers_pipeline_id_kind_source")),
    )
    with op.batch_alter_table("pipeline_triggers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_triggers_kind_source"), ["kind", "source"])

    op.create_table(
        "pipeline_queue",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enqueued_at", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_pipeline_queue_run_id_runs")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["registered_pipelines.id"],
            name=op.f("fk_pipeline_queue_pipeline_id_registered_pipelines"),
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_pipeline_queue")),
    )
    with op.batch_alter_table("pipeline_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_queue_status_enqueued_at"), ["status", "enqueued_at"])
        batch_op.create_index(batch_op.f("ix_pipeline_queue_pipeline_id"), ["pipeline_id"])

    op.create_table(
        "pipeline_workers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("stopped_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_workers")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("pipeline_workers")
    with op.batch_alter_table("pipeline_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_queue_pipeline_id"))
        batch_op.drop_index(batch_op.f("ix_pipeline_queue_status_enqueued_at"))
    op.drop_table("pipeline_queue")
    with op.batch_alter_table("pipeline_triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_triggers_kind_source"))
    op.drop_table("pipeline_triggers")
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_schedules_enabled_next_fire"))
    op.drop_table("pipeline_schedules")
    op.drop_table("registered_pipelines")
