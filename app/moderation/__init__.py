"""The moderators' side: sign-in, the review queue, actions, the audit log, letter management.

Importing the package imports every module that adds routes to :data:`bp`, so registering it
registers them all.
"""

from app.moderation import dashboard, delivery, editor, notifications, people, views
from app.moderation.blueprint import bp

__all__ = ["bp", "dashboard", "delivery", "editor", "notifications", "people", "views"]
