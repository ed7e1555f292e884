"""The number of records per status, kept by triggers in `image_counts` (migration 0005):
the total of a listing filtered on statuses alone is read there, not counted over the table.

The triggers change the counts in the transaction that changes the rows, so the counts are
exact whenever the rows are. A migration that rebuilds `images` (SQLite batch mode copies it
to a new table) loses them with the old table: `ensure_count_triggers` runs after every
migration and creates what is missing, counting the rows again.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, String, column, inspect, table, text

COUNTS = table("image_counts", column("status", String), column("records", BigInteger))

SQLITE_TRIGGERS = [
    """CREATE TRIGGER images_count_insert AFTER INSERT ON images BEGIN
        INSERT INTO image_counts (status, records) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET records = records + 1;
    END""",
    """CREATE TRIGGER images_count_delete AFTER DELETE ON images BEGIN
        UPDATE image_counts SET records = records - 1 WHERE status = OLD.status;
    END""",
    """CREATE TRIGGER images_count_update AFTER UPDATE OF status ON images
    WHEN OLD.status IS NOT NEW.status BEGIN
        UPDATE image_counts SET records = records - 1 WHERE status = OLD.status;
        INSERT INTO image_counts (status, records) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET records = records + 1;
    END""",
]

# One statement-level trigger per event, over the transition tables: a bulk statement
# changes each count once, and counts are locked in status order (no deadlock between two
# statements that change several).
POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION images_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE image_counts SET records = 0;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO image_counts (status, records)
            SELECT status, count(*) FROM new_rows GROUP BY status ORDER BY status
            ON CONFLICT (status) DO UPDATE SET records = image_counts.records + EXCLUDED.records;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO image_counts (status, records)
            SELECT status, -count(*) FROM old_rows GROUP BY status ORDER BY status
            ON CONFLICT (status) DO UPDATE SET records = image_counts.records + EXCLUDED.records;
    ELSE
        INSERT INTO image_counts (status, records)
            SELECT status, sum(change) FROM (
                SELECT status, 1 AS change FROM new_rows
                UNION ALL SELECT status, -1 FROM old_rows) AS changes
            GROUP BY status HAVING sum(change) <> 0 ORDER BY status
            ON CONFLICT (status) DO UPDATE SET records = image_counts.records + EXCLUDED.records;
    END IF;
    RETURN NULL;
END
$$"""
POSTGRESQL_TRIGGERS = [
    "CREATE TRIGGER images_count_insert AFTER INSERT ON images REFERENCING NEW TABLE AS "
    "new_rows FOR EACH STATEMENT EXECUTE FUNCTION images_count_rows()",
    "CREATE TRIGGER images_count_delete AFTER DELETE ON images REFERENCING OLD TABLE AS "
    "old_rows FOR EACH STATEMENT EXECUTE FUNCTION images_count_rows()",
    "CREATE TRIGGER images_count_update AFTER UPDATE ON images REFERENCING OLD TABLE AS "
    "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION images_count_rows()",
    "CREATE TRIGGER images_count_truncate AFTER TRUNCATE ON images FOR EACH STATEMENT "
    "EXECUTE FUNCTION images_count_rows()",
]
TRIGGERS = ("images_count_insert", "images_count_delete", "images_count_update",
            "images_count_truncate")


def ensure_count_triggers(connection: Connection) -> None:
    """Create the count triggers where they are missing, then count the rows they missed
    (PostgreSQL: creating a trigger waits for the writers of `images` and holds new ones
    until the commit, so no change slips between the count and the triggers)."""
    if not inspect(connection).has_table("image_counts"):
        return
    postgresql = connection.dialect.name == "postgresql"
    expected = TRIGGERS if postgresql else TRIGGERS[:3]
    if set(expected) <= _triggers(connection):
        return
    if postgresql:
        connection.exec_driver_sql(POSTGRESQL_FUNCTION)
    for name, statement in zip(expected, POSTGRESQL_TRIGGERS if postgresql
                               else SQLITE_TRIGGERS, strict=True):
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}"
                                   + (" ON images" if postgresql else ""))
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql("DELETE FROM image_counts")
    connection.exec_driver_sql("INSERT INTO image_counts (status, records) "
                               "SELECT status, count(*) FROM images GROUP BY status")


def _triggers(connection: Connection) -> set[str]:
    if connection.dialect.name == "postgresql":
        rows = connection.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'images'::regclass "
            "AND NOT tgisinternal"))
    else:
        rows = connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'images'"))
    return {name for (name,) in rows}
