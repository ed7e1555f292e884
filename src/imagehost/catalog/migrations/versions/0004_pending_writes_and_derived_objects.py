"""Intents of image writes, and the derived objects of the cache store with their total."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pending_writes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("objects", JSON_DOCUMENT, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "derived_objects",
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("record_id", sa.Integer(), nullable=False, index=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    usage = op.create_table(
        "derived_usage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(usage, [{"id": 1, "bytes": 0}])


def downgrade() -> None:
    op.drop_table("derived_usage")
    op.drop_table("derived_objects")
    op.drop_table("pending_writes")
