"""A Flask app, importable only from the test virtualenv (GUNICORN_RS_TEST_VENV)."""
import sys

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "flask ok\n"


@app.route("/info", methods=["GET", "POST"])
def info():
    return jsonify(
        prefix=sys.prefix,
        executable=sys.executable,
        method=request.method,
        path=request.path,
        args=request.args.to_dict(),
        body=request.get_data(as_text=True),
    )
