"""Administering locks: lock service, audit trail, CLI; ``http``: listener, API, console."""
