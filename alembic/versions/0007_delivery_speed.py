"""delivery speed: an index of the open outbox rows in queue order

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Claiming reads the queue by id among open rows only; without this index it walks past
# every sent row, which makes a fan-out slower the longer the outbox's history grows.
OPEN = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_open",
        "deliveries",
        ["id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_open", table_name="deliveries")
