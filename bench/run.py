# ruff: noqa: S603, S607  (a harness: it runs the project's own tools and taskset)
"""``make bench``: Clef under a real server (granian, as deployed; ``CLEF_BENCH_SERVER=gunicorn``
for gunicorn's sync worker), driven over HTTP by the shared load driver.

For each database (embedded SQLite; PostgreSQL + Redis when ``CLEF_BENCH_PG`` names a
database), this migrates, registers a confidential portal, seeds a fresh pool of flow
accounts, and for each scenario starts the server pinned to CPU 0 (one worker, one
thread), runs the driver pinned to CPU 1 (``drive.py``), stops the server and reads its
per-request counts (``counting_wsgi.py`` under granian, ``gunicorn_conf.py``'s hooks
under gunicorn). Then a second, shorter pass of the scenario counts the statements
(hooks that would weigh on the timed runs' CPU). It prints, per operation: rate,
p50/p95, server CPU per operation from /proc (and the database's on PostgreSQL), SQL
statements, the BEGIN, COMMIT and ROLLBACK the driver sent and with them the round trips
to the database, and argon2 verifications per operation, and the argon2 bound measured
in the same run.

Environment: ``CLEF_BENCH_PG`` (SQLAlchemy URL of the PostgreSQL database, optional; its
schema is dropped and migrated again unless ``CLEF_BENCH_KEEP_DB`` is set),
``CLEF_BENCH_REDIS`` (Redis URL for the rate limiter with PostgreSQL), ``RUNS``,
``DURATION``, ``WARMUP``, ``COUNT_DURATION``, ``SCENARIOS``, ``BACKENDS``, ``POOL``,
``CLEF_BENCH_SERVER``, ``CLEF_BENCH_ARGON2``, ``CLEF_BENCH_THREADS`` (the Python threads
of the one worker, granian's blocking threads or gunicorn's, default 1; ``clef serve``
deploys 4 with PostgreSQL + Redis, so that a request waiting on the database stalls one
thread; with more than one, the per-request table mixes the threads' counts, while the
rates and the server's and the database's CPU stay exact). The per-address rate limits
are raised to 1,000,000/minute for the run (one address drives everything).
Results: ``bench/results/<backend>.json``. Nothing outlives the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import latency_log  # bench/, on the path as the script's own folder

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV = ROOT / ".venv" / "bin"
SHARED = Path(os.environ.get("CLEF_BENCH_PEER_SRC",
                           ROOT.parent / "shared" / "peers" / "node-oidc-provider"))
WORK = BENCH / ".peer"          # git-ignored copy of the shared driver (and the peer, if installed)
RESULTS = BENCH / "results"
SERVER_CPU, DRIVER_CPU = os.environ.get("SRV_CPU", "0"), os.environ.get("DRV_CPU", "1")
RUNS = os.environ.get("RUNS", "1")
DURATION = os.environ.get("DURATION", "5")
WARMUP = os.environ.get("WARMUP", "1")
# The pass that counts statements and round trips (one run of this many seconds after
# the timed runs, which run without the counting hooks: ``request_counts.install``).
COUNT_DURATION = os.environ.get("COUNT_DURATION", "2")
SCENARIOS = os.environ.get("SCENARIOS", "discovery jwks userinfo refresh flow").split()
# Shares of the measured flow capacity at which flows are then started at a fixed rate,
# for p50/p95 under load (empty: skipped).
LOAD_LEVELS = os.environ.get("LOAD_LEVELS", "0.5 0.8").split()
THREADS = os.environ.get("CLEF_BENCH_THREADS", "1")  # the worker's Python threads (docstring)
REDIRECT = "http://127.0.0.1:8765/cb"
LIMIT = "1000000/minute"
# A fixed secret for a throwaway loopback database: the signing keys sealed under it by
# one run stay readable by the next (and by bench/scale.py's second pass).
BENCH_SECRET = "clef-bench-loopback-only-secret-0123456789"
# The flow's requests, in order, for the per-request table.
FLOW_PATHS = ["GET /authorize", "GET /signin", "POST /signin", "GET /2fa/challenge",
              "POST /2fa/challenge", "POST /authorize", "POST /token"]


def copy_driver() -> Path:
    """The driver is read-only in shared/: copy it (not the peer's node_modules) here."""
    WORK.mkdir(exist_ok=True)
    if not (SHARED / "oidc_bench.py").is_file():
        if (WORK / "oidc_bench.py").is_file():
            return WORK
        raise SystemExit(f"the load driver is not at {SHARED} (set CLEF_BENCH_PEER_SRC)")
    for name in ("oidc_bench.py", "summarize.py"):
        shutil.copy(SHARED / name, WORK / name)
    return WORK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, backend: str, port: int) -> Path:
    if backend == "postgresql":
        db = os.environ["CLEF_BENCH_PG"]
        limiter = os.environ.get("CLEF_BENCH_REDIS", "redis://127.0.0.1:6379/8")
    else:
        db, limiter = f"sqlite:///{folder}/clef.sqlite3", "memory://"
    limits = "\n".join(f'{k} = "{LIMIT}"' for k in (
        "signin_per_ip", "register_per_ip", "email_code_per_ip", "second_factor_per_ip",
        "token_per_ip", "token_per_client", "forgot_username_per_ip", "forgot_password_per_ip"))
    path = folder / "clef.toml"
    path.write_text(f"""[service]
base_url = "http://127.0.0.1:{port}"
secret_key = "{BENCH_SECRET}"
instance_dir = "{folder}/instance"
[database]
url = "{db}"
[rate_limit]
storage_url = "{limiter}"
{limits}
{plain_flow_hash()}""")
    return path


def plain_flow_hash() -> str:
    """``CLEF_BENCH_ARGON2=MEMORY_KIB,TIME_COST`` (e.g. ``1024,1``): the flow with a cheap
    argon2id, as the peer's plain flow, so the rest of the flow is seen without the
    verification (and without its 19 MiB sweeping the caches). Unset: the service's own."""
    spec = os.environ.get("CLEF_BENCH_ARGON2")
    if not spec:
        return ""
    memory, time_cost = (int(v) for v in spec.split(","))
    return f"[argon2]\nmemory_kib = {memory}\ntime_cost = {time_cost}\n"


def reset_postgres() -> None:
    """A fresh schema, unless the caller keeps it (bench/scale.py keeps its 1M accounts):
    the database may hold another run's or the test suite's keys, sealed under another secret."""
    if os.environ.get("CLEF_BENCH_KEEP_DB"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ["CLEF_BENCH_PG"])
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def clef(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(VENV / "clef"), *args], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return out.stdout


def argon2_bound() -> dict[str, float]:
    """argon2id verifications per second on the server's core, same parameters as Clef:
    the best of five batches of eight (a neighbour on a shared host only ever adds)."""
    code = ("import os,time;os.sched_setaffinity(0,{" + SERVER_CPU + "});"
            "from idp.passwords import PasswordHasher;from idp.settings import load_settings;"
            "h=PasswordHasher(load_settings().argon2);s=h.hash('x'*20);best=1e9\n"
            "for _ in range(5):\n"
            " t=time.process_time()\n"
            " for _ in range(8): h.verify(s,'x'*20)\n"
            " best=min(best,(time.process_time()-t)/8*1e3)\n"
            "print(best)")
    ms = float(subprocess.run([str(VENV / "python"), "-c", code], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout)
    return {"argon2_ms": ms, "argon2_per_s": 1000 / ms}


SERVERS = ("granian", "gunicorn", "gunicorn-gthread")


def server_name() -> str:
    """``CLEF_BENCH_SERVER``: granian (the default, as Clef is deployed), gunicorn (one
    sync worker, as before) or gunicorn-gthread (one keep-alive worker)."""
    name = os.environ.get("CLEF_BENCH_SERVER") or "granian"
    if name not in SERVERS:
        raise SystemExit(f"CLEF_BENCH_SERVER={name!r}: one of {', '.join(SERVERS)}")
    return name


def server_command(app: str, port: int, server: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(command, environment) for one worker on one thread serving ``app`` with the
    per-request counts: granian through ``counting_wsgi.py``, gunicorn with the hooks
    of ``gunicorn_conf.py``."""
    server = server or server_name()
    if server == "granian":
        return ([str(VENV / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port",
                 str(port), "--workers", "1", "--blocking-threads", THREADS, "--log-level", "warning",
                 "counting_wsgi:app"],
                {"CLEF_BENCH_TARGET": app,
                 "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT), os.environ.get("PYTHONPATH", "")])})
    gthread = {"CLEF_BENCH_WORKER_CLASS": "gthread", "CLEF_BENCH_THREADS": "4"}
    return ([str(VENV / "gunicorn"), "-c", str(BENCH / "gunicorn_conf.py"), app],
            gthread if server == "gunicorn-gthread" else {})


def start_server(env: dict[str, str], port: int, counts: Path) -> subprocess.Popen[bytes]:
    command, extra = server_command("idp.wsgi:app", port)
    senv = dict(env, CLEF_BENCH_BIND=f"127.0.0.1:{port}", CLEF_BENCH_COUNTS=str(counts), **extra)
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *command], env=senv, cwd=ROOT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{server_name()} did not start") from None
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"{server_name()} did not answer within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_counts(counts: Path) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for f in counts.glob("counts-*.json"):
        for key, row in json.loads(f.read_text()).items():
            m = merged.setdefault(key, {})
            for k, v in row.items():
                if isinstance(v, dict):
                    m.setdefault(k, {}).update(v)
                else:
                    m[k] = m.get(k, 0) + v
        f.unlink()
    return merged


def per_op(counts: dict[str, dict[str, Any]], keys: list[str], ops: float) -> dict[str, float]:
    rows = [counts.get(k, {}) for k in keys]
    op = {f: sum(r.get(f, 0) for r in rows) / ops for f in COUNTED}
    op["trips"] = trips(op)
    return op


# Counted in a pass of their own (``request_counts.install``), merged per request;
# round trips are the statements plus the BEGIN, COMMIT and ROLLBACK the driver really
# sent (issue 11).
SQL_COUNTED = ("sql", "begins", "commits", "rollbacks")
# What request_counts.py counts per request.
COUNTED = (*SQL_COUNTED, "argon2", "cpu_s")


def with_sql_counts(timed: dict[str, dict[str, Any]], counted: dict[str, dict[str, Any]]) -> None:
    """Gives each request of the timed pass the counting pass's statements and round
    trips per request of the same kind (the CPU, argon2 runs and statuses stay the
    timed pass's: it ran as production does, without the counting hooks)."""
    for key, row in timed.items():
        seen = counted.get(key, {})
        if seen.get("requests"):
            for field in SQL_COUNTED:
                row[field] = seen.get(field, 0) / seen["requests"] * row["requests"]


def trips(row: dict[str, Any]) -> float:
    return float(sum(row.get(f, 0) for f in SQL_COUNTED))


def bench_backend(backend: str, driver_dir: Path) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="clef-bench-") as tmp:
        folder = Path(tmp)
        cfg = write_config(folder, backend, port)
        env = dict(os.environ, IDP_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
        for k in [k for k in env if k.startswith("IDP_") and k != "IDP_CONFIG"]:
            del env[k]
        if backend == "postgresql":
            reset_postgres()
        clef(env, "db", "upgrade")
        added = clef(env, "clients", "add", "--name", "Bench portal", "--redirect-uri", REDIRECT)
        ids = dict(line.split(None, 1) for line in added.splitlines() if line.startswith("client_"))
        prefix = f"b{int(time.time())}x"
        pool = os.environ.get("POOL", "3000")
        password, totp = subprocess.run(
            [str(VENV / "python"), str(BENCH / "seed.py"), "pool", prefix, pool], env=env, cwd=ROOT,
            check=True, capture_output=True, text=True).stdout.strip().rsplit(None, 1)
        counts = folder / "counts"
        counts.mkdir()
        denv = dict(env, CLEF_BENCH_PREFIX=prefix, CLEF_BENCH_COUNTER=str(folder / "counter"),
                    CLEF_BENCH_TOTP=totp, CLEF_BENCH_DRIVER_DIR=str(driver_dir),
                    CLEF_BENCH_DB=(os.environ["CLEF_BENCH_PG"].replace("+psycopg", "")
                                   if backend == "postgresql" else ""))
        report: dict[str, Any] = {"backend": backend, "bound": argon2_bound(), "scenarios": {}}
        def drive(scenario: str, extra: dict[str, str] | None = None,
                  counting: bool = False) -> dict[str, Any]:
            server = start_server(dict(env, CLEF_BENCH_COUNT_SQL="1") if counting else env,
                                  port, counts)
            try:
                out = folder / f"{scenario}.json"
                subprocess.run(
                    ["taskset", "-c", DRIVER_CPU, str(VENV / "python"), str(BENCH / "drive.py"),
                     "--issuer", f"http://127.0.0.1:{port}", "--client-id", ids["client_id"].strip(),
                     # "=" form: a URL-safe secret may begin with "-", which argparse
                     # would take for an option.
                     f"--client-secret={ids['client_secret'].strip()}", "--redirect-uri", REDIRECT,
                     "--username", "unused", "--password", password, "--scope", "openid",
                     "--adapter", "clef_adapter", "--scenario", scenario,
                     "--runs", "1" if counting else RUNS,
                     "--duration", COUNT_DURATION if counting else DURATION,
                     "--warmup", WARMUP, "--procs", "2", "--threads", "4",
                     "--server-pid", str(server.pid), "--label", f"clef_{backend}_{scenario}",
                     "--out", str(out)], env=dict(denv, **(extra or {})), cwd=BENCH, check=True)
            finally:
                stop_server(server)
            result: dict[str, Any] = json.loads(out.read_text())["scenarios"][scenario]
            result["counts"] = read_counts(counts)
            return result

        for scenario in SCENARIOS:
            result = drive(scenario)
            for prof in counts.glob("profile-*.pstats"):
                shutil.move(prof, RESULTS / f"profile-{backend}-{scenario}.pstats")
            with_sql_counts(result["counts"], drive(scenario, counting=True)["counts"])
            report["scenarios"][scenario] = result
        capacity = report["scenarios"].get("flow", {}).get("median_run", {}).get("iter_per_s")
        if capacity:
            report["fixed_rate"] = {level: fixed_rate(drive, folder, float(level) * capacity)
                                    for level in LOAD_LEVELS}
    return report


def fixed_rate(drive: Any, folder: Path, rate: float) -> dict[str, Any]:
    """Flows started at ``rate`` per second (``drive.py``'s fixed-rate mode): p50/p95 of
    the whole flow (from each flow's scheduled start) and of its password step."""
    latencies = folder / f"latency-{rate:.2f}"
    latencies.mkdir()
    drive("flow", {"CLEF_BENCH_RATE": f"{rate:.3f}", "CLEF_BENCH_SLOTS": "8",
                   "CLEF_BENCH_LATENCY_DIR": str(latencies)})
    found = latency_log.read(str(latencies))
    out: dict[str, Any] = {"rate": rate}
    for kind, values in found.items():
        values.sort()
        out[kind] = {"n": len(values), "p50_ms": values[len(values) // 2] * 1e3,
                     "p95_ms": values[min(len(values) - 1, int(len(values) * 0.95))] * 1e3}
    return out


def summarise(report: dict[str, Any]) -> list[str]:
    """Markdown rows: the driver's median run, plus the worker's counts per operation."""
    primary = {"discovery": ["GET /.well-known/openid-configuration"], "jwks": ["GET /jwks"],
               "userinfo": ["GET /userinfo"], "refresh": ["POST /token"]}
    lines = [f"### {report['backend']}: argon2id bound {report['bound']['argon2_ms']:.1f} ms "
             f"= {report['bound']['argon2_per_s']:.1f}/s on one core", "",
             "| operation | per s | p50 ms | p95 ms | server CPU ms/op | DB CPU ms/op "
             "| worker CPU ms/op | SQL/op | BEGIN/op | commits/op | ROLLBACK/op | round trips/op "
             "| argon2/op | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, sc in report["scenarios"].items():
        if "median_run" not in sc:
            lines.append(f"| {name} | failed: {sc.get('error')} |")
            continue
        run, counts = sc["median_run"], sc["counts"]
        rows = [(name, run, primary.get(name, FLOW_PATHS))]
        if name == "flow":
            rows.append(("code exchange (in flow)", None, ["POST /token"]))
        for label, r, keys in rows:
            ops = (counts.get(keys[0], {}).get("requests", 0) if name != "flow"
                   else counts.get("POST /token", {}).get("requests", 0)) or 1
            op = per_op(counts, keys, ops)
            db = r.get("db_cpu_ms_per_iter") if r else None
            if r:
                head = (f"| {label} | {r['iter_per_s']:.1f} | {r['lat_ms']['p50']:.1f} | "
                        f"{r['lat_ms']['p95']:.1f} | {r['server_cpu_ms_per_iter']:.2f} | "
                        f"{'-' if db is None else f'{db:.2f}'} | ")
            else:
                head = f"| {label} | | | | | | "
            lines.append(head + f"{op['cpu_s'] * 1e3:.2f} | {op['sql']:.1f} | {op['begins']:.1f} | "
                         f"{op['commits']:.1f} | {op['rollbacks']:.1f} | {op['trips']:.1f} | "
                         f"{op['argon2']:.2f} | {r['errors'] if r else ''} |")
    if report.get("fixed_rate"):
        lines += ["", "Latency at a fixed rate (share of the flow capacity above; from each flow's "
                  "scheduled start):", "",
                  "| load | flows/s | flow p50 ms | flow p95 ms | password step p50 ms | "
                  "password step p95 ms |", "|---|---|---|---|---|---|"]
        for level, row in report["fixed_rate"].items():
            flow_l, pw = row.get("flow", {}), row.get("password", {})
            lines.append(f"| {float(level):.0%} | {row['rate']:.1f} | {flow_l.get('p50_ms', 0):.1f} | "
                         f"{flow_l.get('p95_ms', 0):.1f} | {pw.get('p50_ms', 0):.1f} | "
                         f"{pw.get('p95_ms', 0):.1f} |")
    flow = report["scenarios"].get("flow", {}).get("counts")
    if flow:
        lines += ["", f"Full flow, per request (worker CPU from the {server_name()} counts):", "",
                  "| request | count | worker CPU ms | SQL | BEGIN | commits | ROLLBACK "
                  "| round trips | argon2 | statuses |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for key in FLOW_PATHS:
            row = flow.get(key)
            if row:
                n = row["requests"]
                lines.append(f"| {key} | {n} | {row['cpu_s'] / n * 1e3:.2f} | {row.get('sql', 0) / n:.1f} "
                             f"| {row.get('begins', 0) / n:.1f} | {row.get('commits', 0) / n:.1f} "
                             f"| {row.get('rollbacks', 0) / n:.1f} | {trips(row) / n:.1f} "
                             f"| {row.get('argon2', 0) / n:.2f} "
                             f"| {row.get('status')} |")
    return lines


def peer_lines() -> list[str]:
    results = sorted((WORK / "results").glob("*.json")) if (WORK / "results").is_dir() else []
    if not results:
        return ["", "Peer: not installed (`make bench-peer` installs node-oidc-provider from npm"
                    " and runs it)."]
    out = subprocess.run([str(VENV / "python"), str(WORK / "summarize.py"), *map(str, results)],
                         capture_output=True, text=True, cwd=WORK)
    return ["", "### Peer (node-oidc-provider 9, in-memory store), from bench/.peer/results", "",
            out.stdout.strip()]


def main() -> None:
    driver = copy_driver()
    RESULTS.mkdir(exist_ok=True)
    default = "sqlite postgresql" if os.environ.get("CLEF_BENCH_PG") else "sqlite"
    backends = os.environ.get("BACKENDS", default).split()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = [f"Clef {commit}, {os.cpu_count()} CPUs, server on CPU {SERVER_CPU} (one {server_name()} "
             f"worker), driver on CPU {DRIVER_CPU}, {RUNS} x {DURATION} s per scenario", ""]
    if "postgresql" not in backends:
        lines.append("PostgreSQL: not run (set CLEF_BENCH_PG to a database URL).")
    for backend in backends:
        report = bench_backend(backend, driver)
        (RESULTS / f"{backend}.json").write_text(json.dumps(report, indent=1))
        lines += [*summarise(report), ""]
    lines += peer_lines()
    text = "\n".join(lines)
    (RESULTS / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
