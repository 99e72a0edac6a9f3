"""Incremental SQL sources (PostgreSQL, MariaDB/MySQL, SQLite) through SQLAlchemy Core."""
