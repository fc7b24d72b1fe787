"""Sign-in throughput against the argon2 bound.

A password step should cost one argon2id verification plus a handful of indexed
queries. This prints, for the default argon2 parameters on this machine:

- argon2 verifications per second on one core (the bound);
- password-step sign-ins per second through the real app (test client, one thread,
  embedded SQLite), and the ratio to the bound;
- SQL statements per sign-in, counted.

Run with ``make bench``. Figures, not assertions: speed goals live here, not in tests.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from idp.app import create_app
from idp.migrate import upgrade
from idp.passwords import PasswordHasher
from idp.settings import load_settings

PASSWORD = "correct horse battery staple"
ROUNDS = 40
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def argon2_rate() -> float:
    hasher = PasswordHasher(load_settings().argon2)
    stored = hasher.hash(PASSWORD)
    start = time.perf_counter()
    for _ in range(ROUNDS):
        hasher.verify(stored, PASSWORD)
    return ROUNDS / (time.perf_counter() - start)


def signin_rate() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder)
        app = create_app({
            "service": {"instance_dir": str(instance)},
            "rate_limit": {"signin_per_ip": "100000/minute"},
        })
        services = app.extensions["clef"]
        upgrade(services.settings.database_url)
        client = app.test_client()
        page = client.get("/register").get_data(as_text=True)
        token = CSRF.search(page)
        assert token
        client.post("/register", data={
            "csrf_token": token.group(1), "username": "bench", "password": PASSWORD,
            "confirm": PASSWORD, "email": "",
        })
        statements = 0

        def count(*_args: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(services.engine, "before_cursor_execute", count)
        total = posting = 0.0
        for _ in range(ROUNDS):
            fresh = app.test_client()
            start = time.perf_counter()
            page = fresh.get("/signin").get_data(as_text=True)
            token = CSRF.search(page)
            assert token
            posted = time.perf_counter()
            response = fresh.post("/signin", data={
                "csrf_token": token.group(1), "username": "bench", "password": PASSWORD,
            })
            done = time.perf_counter()
            assert response.status_code == 303, response.status_code
            total += done - start
            posting += done - posted
        return ROUNDS / total, ROUNDS / posting, statements / ROUNDS


def main() -> None:
    bound = argon2_rate()
    rate, post_rate, statements = signin_rate()
    print(f"argon2id verify (defaults), one core  : {bound:8.1f} /s")
    print(f"sign-in page + password POST, 1 thread: {rate:8.1f} /s  ({rate / bound:.0%} of the bound)")
    share = post_rate / bound
    print(f"password POST alone, one thread       : {post_rate:8.1f} /s  ({share:.0%} of the bound)")
    print(f"SQL statements per sign-in (GET+POST) : {statements:8.1f}")


if __name__ == "__main__":
    main()
