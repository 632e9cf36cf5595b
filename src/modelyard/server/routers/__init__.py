"""REST routers, one per concern; each route declares its access rule with ``requires``."""
