"""The floor for ``bench/floor.py``: a bare Flask route serving fixed JSON bytes, the
least any Flask view under the same gunicorn can cost (no Clef code, no session)."""

from __future__ import annotations

import json

from flask import Flask, Response

app = Flask(__name__)
DOCUMENT = json.dumps({"issuer": "http://127.0.0.1", "keys": []}).encode()


@app.get("/.well-known/openid-configuration")
def discovery() -> Response:
    return Response(DOCUMENT, mimetype="application/json")
