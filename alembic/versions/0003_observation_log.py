"""observation log and checkpoints (proof packs)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import DROP_LOG_TRIGGERS, LOG_TRIGGERS

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('observation_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('channel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('seen_key', sa.String(length=160), nullable=True),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('record_hash', sa.String(length=64), nullable=False),
    sa.Column('chain_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_observation_log_channel_id_channels')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_observation_log'))
    )
    with op.batch_alter_table('observation_log', schema=None) as batch_op:
        batch_op.create_index('ix_observation_log_channel_seq', ['channel_id', 'seq'], unique=False)
        batch_op.create_index('uq_observation_log_seen_key', ['seen_key'], unique=True, sqlite_where=sa.text('seen_key IS NOT NULL'), postgresql_where=sa.text('seen_key IS NOT NULL'))

    op.create_table('checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('first_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('key_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tsa_tokens', sa.JSON(), nullable=False),
    sa.Column('tsa_attempts', sa.Integer(), nullable=False),
    sa.Column('tsa_next_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tsa_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkpoints')),
    sa.UniqueConstraint('day', 'last_seq', name='uq_checkpoints_day_last_seq')
    )
    with op.batch_alter_table('checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkpoints_day'), ['day'], unique=False)

    for sql in LOG_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(sql)


def downgrade() -> None:
    for sql in DROP_LOG_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(sql)
    with op.batch_alter_table('checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkpoints_day'))
    op.drop_table('checkpoints')
    with op.batch_alter_table('observation_log', schema=None) as batch_op:
        batch_op.drop_index('uq_observation_log_seen_key')
        batch_op.drop_index('ix_observation_log_channel_seq')
    op.drop_table('observation_log')
