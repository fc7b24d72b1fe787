# ruff: noqa: S603  (a harness: it runs the project's own scripts)
"""``make bench-scale``: the cost of the hot operations at 1,000 and at 1,000,000 accounts.

On the PostgreSQL database ``CLEF_BENCH_PG`` (its schema is dropped and migrated again):
runs the userinfo, refresh and flow scenarios of ``run.py`` with 1,000 accounts, grows
the accounts table to 1,000,000 rows in one ``INSERT ... SELECT generate_series`` (one
shared argon2 hash, ``seed.py filler``), and runs them again. Flat figures (server CPU,
database CPU and SQL per operation) mean every hot look-up is an index look-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BENCH_SECRET

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"


def run(label: str, env: dict[str, str]) -> dict[str, object]:
    subprocess.run([str(VENV / "python"), str(ROOT / "bench" / "run.py")], env=env, check=True)
    report = json.loads((RESULTS / "postgresql.json").read_text())
    (RESULTS / f"scale-{label}.json").write_text(json.dumps(report))
    return report


def main() -> None:
    url = os.environ["CLEF_BENCH_PG"]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    env = dict(os.environ, BACKENDS="postgresql", POOL="1000", CLEF_BENCH_KEEP_DB="1",
               SCENARIOS=os.environ.get("SCENARIOS", "userinfo refresh flow"))
    small = run("1k", env)
    config = ROOT / "bench" / "results" / "scale.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[service]\nsecret_key = "{BENCH_SECRET}"\n'
                      f'instance_dir = "{RESULTS / "instance"}"\n')
    subprocess.run([str(VENV / "python"), str(ROOT / "bench" / "seed.py"), "filler", "1000000"],
                   env=dict(os.environ, IDP_CONFIG=str(config)), check=True, cwd=ROOT)
    config.unlink()
    big = run("1m", env)
    print("\n| operation | 1k: server CPU ms | 1M: server CPU ms | 1k: DB CPU ms | 1M: DB CPU ms "
          "| 1k: SQL | 1M: SQL |\n|---|---|---|---|---|---|---|")
    for name in small["scenarios"]:  # type: ignore[attr-defined]
        a = small["scenarios"][name]  # type: ignore[index]
        b = big["scenarios"][name]  # type: ignore[index]
        ra, rb = a["median_run"], b["median_run"]

        def sql(sc: dict[str, object], name: str = name) -> float:
            counts: dict[str, dict[str, float]] = sc["counts"]  # type: ignore[assignment]
            if name == "flow":  # every request of a flow, per code exchange
                return sum(r.get("sql", 0) for r in counts.values()) / counts["POST /token"]["requests"]
            row = counts["GET /userinfo" if name == "userinfo" else "POST /token"]
            return row.get("sql", 0) / row["requests"]

        print(f"| {name} | {ra['server_cpu_ms_per_iter']:.2f} | {rb['server_cpu_ms_per_iter']:.2f} "
              f"| {ra.get('db_cpu_ms_per_iter') or 0:.2f} | {rb.get('db_cpu_ms_per_iter') or 0:.2f} "
              f"| {sql(a):.1f} | {sql(b):.1f} |")


if __name__ == "__main__":
    sys.exit(main())
