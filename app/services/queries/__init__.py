"""Read models: what pages, the API and the downloads show, apart from the commands that change it.

Each module here takes a session and returns plain data (rows, dataclasses, streams of text) and
never writes: the public list and its search (``listing``, ``search``), the moderators' queue
(``review``), the public tally of the moderation (``ledger``) and the exports (``export``). The
commands (signing, confirming, moderating, withdrawing, updates) stay in ``app.services``; the
public log's read side lives with the log, in ``app.log``.
"""
