"""delivery chat order: an index of the open outbox rows by chat, in queue order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A claim takes a row only when no earlier open row of its chat waits (a retry backing off,
# a 429 pause) or is being sent: it looks up the chat's earlier open rows by this index.
OPEN = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_open_chat",
        "deliveries",
        ["chat_id", "id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_open_chat", table_name="deliveries")
