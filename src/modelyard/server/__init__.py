"""The modelyard server: REST API over the services, auth, roles, audit, hardening.

FastAPI is imported only here (and in the inference app of ``serving/``).
"""

from __future__ import annotations

from modelyard.server.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
