"""Alembic revisions of the gateway store (loaded by Alembic, in ``down_revision`` order)."""

__all__: list[str] = []
