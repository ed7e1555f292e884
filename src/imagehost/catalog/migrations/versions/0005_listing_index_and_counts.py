"""The default listing at any size: an index on (status, created_at, id), from which live
records page by time then id (first page and cursor pages alike), and `image_counts`, the
number of records per status, so the listing's total is read, not counted.

Triggers keep the counts; they are created after every migration run
(imagehost.catalog.status_counts.ensure_count_triggers), so that a later migration that
rebuilds `images` (SQLite batch mode) cannot leave the counts unkept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_images_status_created_at", "images", ["status", "created_at", "id"],
                    if_not_exists=True)
    op.create_table(
        "image_counts",
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("records", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in ("images_count_insert", "images_count_delete", "images_count_update",
                    "images_count_truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON images" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS images_count_rows()")
    op.drop_table("image_counts")
    op.drop_index("ix_images_status_created_at", "images", if_exists=True)
