"""The store's code, written once in SQL that SQLite and PostgreSQL both speak."""
