"""gunicorn settings: ``gunicorn -c gunicorn.conf.py`` (the app is named below).

Every value can be changed from the environment without editing this file:
GUNICORN_BIND, WEB_CONCURRENCY (worker processes), GUNICORN_TIMEOUT.
"""

import multiprocessing
import os
from typing import Any

wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: one request at a time each, so the site's capacity is the number of workers.
# Requests are short (a few queries, no outbound calls: mail goes through the outbox), so
# two per core keep the CPU busy while one waits on the database.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
worker_class = "sync"
# A request that takes longer than this is stuck: the worker is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Behind a proxy that keeps connections to gunicorn open.
keepalive = 5
# Replace workers now and then, so a slow leak never grows without bound. At a viral letter's
# rate (over a thousand requests a second per worker) that is every half a minute or so, which
# is cheap only because the app is loaded once, below.
max_requests = 50000
max_requests_jitter = 5000
# Load the app once, in the master, and fork the workers from it: a replaced worker serves again
# within milliseconds instead of stalling its queue for the second that imports take, and the
# workers share the loaded code's memory. New code therefore needs a restart, not a HUP.
preload_app = True
# The app reads X-Forwarded-* through ProxyFix (PROXY_FIX_* settings), not through gunicorn.
forwarded_allow_ips = ""
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"

# A sync worker uses one database connection at a time: a pool of 2 with no overflow bounds
# the connections to 2 x workers per server (unless DB_POOL_SIZE / DB_MAX_OVERFLOW say otherwise).
os.environ.setdefault("DB_POOL_SIZE", "2")
os.environ.setdefault("DB_MAX_OVERFLOW", "0")


def post_fork(server: Any, worker: Any) -> None:
    """Each worker opens database connections of its own: none may be shared across a fork."""
    from app.db import db

    db.forget_connections(server.app.callable)


# No runtime control socket: its default path is shared by every gunicorn on the host, and
# deploys restart the service instead.
control_socket_disable = True
