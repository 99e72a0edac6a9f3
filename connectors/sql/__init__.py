"""Incremental SQL reading (PostgreSQL, MariaDB/MySQL, SQLite) through SQLAlchemy Core.

``cursor`` (high water, overlap de-duplication), ``query`` (keyset pages), ``reflect`` (streams
bound to real tables, discovery), ``timestamps`` (naive legacy zones) and ``faults`` (transient
errors, retries, masked DSNs) serve the generic adapter :mod:`connectors.sources.sql`.
"""
