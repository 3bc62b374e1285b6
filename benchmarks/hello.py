"""The ceiling: a bare Flask app answering "hello", served by the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """The least a Flask request can do."""
    return "hello"
