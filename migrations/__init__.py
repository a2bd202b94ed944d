"""Alembic migrations of the gateway's database (``regsosek db upgrade``)."""
