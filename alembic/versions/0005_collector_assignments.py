"""collectors divide the watched channels: collectors, assignments with leases, per-account facts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collectors",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("tg_user_id", sa.BigInteger(), nullable=True),
        sa.Column("join_cap", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("limited_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("limited_reason", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collectors")),
        sa.UniqueConstraint("kind", "name", name="uq_collectors_kind_name"),
    )
    op.create_table(
        "channel_assignments",
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("collector_id", _ID, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_assignments_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collectors.id"],
            name=op.f("fk_channel_assignments_collector_id_collectors"),
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_assignments")),
    )
    with op.batch_alter_table("channel_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_assignments_collector_id"), ["collector_id"], unique=False
        )
    op.create_table(
        "collector_channels",
        sa.Column("collector_id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("access_hash", sa.BigInteger(), nullable=True),
        sa.Column("joined", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_collector_channels_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["collectors.id"],
            name=op.f("fk_collector_channels_collector_id_collectors"),
        ),
        sa.PrimaryKeyConstraint("collector_id", "channel_id", name=op.f("pk_collector_channels")),
    )


def downgrade() -> None:
    op.drop_table("collector_channels")
    with op.batch_alter_table("channel_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_assignments_collector_id"))
    op.drop_table("channel_assignments")
    op.drop_table("collectors")
