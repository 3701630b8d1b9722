"""A minimal Flask app for benches/keepalive.py: `/` answers `{"message": "Hello, World!"}`.

It puts a typical framework's per-request cost (routing, request and response objects, JSON)
on top of the server's, which is what most deployments run rather than a bare WSGI callable.
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/")
def hello():
    return jsonify(message="Hello, World!")
