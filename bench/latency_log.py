"""Latencies of the fixed-rate runs (``drive.py``, ``clef_adapter.py``), one file per
driver process under ``CLEF_BENCH_LATENCY_DIR``: ``<kind> <seconds>`` lines, measured
runs only (``measuring`` is set before the run's processes fork)."""

from __future__ import annotations

import os

DIRECTORY = os.environ.get("CLEF_BENCH_LATENCY_DIR", "")
measuring = [False]


def record(kind: str, seconds: float) -> None:
    if DIRECTORY and measuring[0]:
        with open(os.path.join(DIRECTORY, f"{os.getpid()}.txt"), "a") as f:
            f.write(f"{kind} {seconds:.6f}\n")


def read(directory: str) -> dict[str, list[float]]:
    """Every latency written under ``directory``, by kind, in seconds."""
    found: dict[str, list[float]] = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as f:
            for line in f:
                kind, value = line.split()
                found.setdefault(kind, []).append(float(value))
    return found
