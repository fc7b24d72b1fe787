"""An app outside its screens: settings layered for the app factory, and its CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from click.testing import Result
from flask import Flask


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, table by table, as the settings layers are."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def run_cli(app: Flask, *args: str) -> Result:
    """Run ``clef <args>`` against ``app`` through Flask's CLI runner."""
    return app.test_cli_runner().invoke(args=list(args))
