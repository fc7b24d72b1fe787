"""Where a profiled scenario's CPU goes: self time by package, and the top functions.

    python bench/profile_summary.py bench/results/profile-<backend>-<scenario>.pstats [N]

The profiles come from ``CLEF_BENCH_PROFILE=1 make bench`` (cProfile in the server's worker:
under granian each request's thread, under gunicorn the whole run, warm-up and set-up
included). cProfile slows pure-Python code more than C code, so read the shares, not the
milliseconds.
"""

from __future__ import annotations

import pstats
import sys
from collections import defaultdict


def package(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C: sqlite3/psycopg/hashing/IO)"
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    for own in ("/idp/", "/mfa/", "/recovery/"):
        if own in filename:
            return "clef " + own.strip("/") + "/" + filename.split(own)[1].split("/")[0]
    if "/lib/python3" in filename:
        return "stdlib " + filename.split("/lib/python3")[1].split("/", 2)[1].removesuffix(".py")
    return filename


def main() -> None:
    stats = pstats.Stats(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    by_pkg: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), v in raw.items():
        by_pkg[package(filename)] += v[2]
    print(f"{sys.argv[1]}: {total:.2f} s of self time")
    for name, t in sorted(by_pkg.items(), key=lambda x: -x[1])[:top]:
        print(f"  {t / total:6.1%}  {name}")
    print("top functions (self time):")
    for (filename, _line, name), v in sorted(raw.items(), key=lambda x: -x[1][2])[:top]:
        print(f"  {v[2] / total:6.1%}  {v[1]:>8} calls  {name}  ({package(filename)})")


if __name__ == "__main__":
    main()
