"""The catalog: one row per image, in SQLite by default or PostgreSQL."""
