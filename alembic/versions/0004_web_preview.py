"""web preview: counter ranges, withheld preview, API refresh time

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("participants_max", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("api_refreshed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("preview_withheld", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("channel_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("participants_max", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_snapshots", schema=None) as batch_op:
        batch_op.drop_column("participants_max")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("preview_withheld")
        batch_op.drop_column("api_refreshed_at")
        batch_op.drop_column("participants_max")
