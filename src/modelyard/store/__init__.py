"""Metadata persistence, used only by the services. See :mod:`modelyard.store.sql`."""
