"""gunicorn settings: ``gunicorn -c gunicorn.conf.py`` (the app is named below).

Every value can be changed from the environment without editing this file:
GUNICORN_BIND, WEB_CONCURRENCY (worker processes), GUNICORN_TIMEOUT.
"""

import multiprocessing
import os

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
# Replace workers now and then, so a slow leak never grows without bound.
max_requests = 20000
max_requests_jitter = 2000
# The app reads X-Forwarded-* through ProxyFix (PROXY_FIX_* settings), not through gunicorn.
forwarded_allow_ips = ""
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"

# A sync worker uses one database connection at a time: a pool of 2 with no overflow bounds
# the connections to 2 x workers per server (unless DB_POOL_SIZE / DB_MAX_OVERFLOW say otherwise).
os.environ.setdefault("DB_POOL_SIZE", "2")
os.environ.setdefault("DB_MAX_OVERFLOW", "0")

# No runtime control socket: its default path is shared by every gunicorn on the host, and
# deploys restart the service instead.
control_socket_disable = True
