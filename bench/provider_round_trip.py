"""The rest of a portal sign-in, after the password: the second factor and the
OpenID Connect round trip, with their SQL statements counted.

Prints, through the real app (test client, one thread, embedded SQLite):

- TOTP challenge POSTs per second and SQL statements each (no argon2 here: the code
  check is a few HMACs and one conditional UPDATE);
- authorization requests per second for a signed-in person (code issued);
- code exchanges per second (one RS256 signature each) and SQL statements each;
- RS256 signatures per second with the same key, the bound of the exchange.

Run with ``make bench``. Figures, not assertions.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import tempfile
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from sqlalchemy import event

from idp.app import create_app
from idp.audit import Where
from idp.clock import FrozenClock
from idp.migrate import upgrade
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY

PASSWORD = "correct horse battery staple"
ROUNDS = 60
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CALLBACK = "https://portal.example/callback"


def csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found
    return found.group(1)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        clock = FrozenClock()
        app = create_app({"service": {"instance_dir": folder},
                          "rate_limit": {"signin_per_ip": "100000/minute",
                                         "second_factor_per_ip": "100000/minute",
                                         "token_per_ip": "100000/minute"}}, clock=clock)
        core = app.extensions["clef"]
        upgrade(core.settings.database_url)
        with app.app_context():
            db = core.session_factory()
            account = core.accounts.register(db, clock.now(), username="bench", password=PASSWORD,
                                             confirm=PASSWORD, email=None, locale="en",
                                             where=Where())
            secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            db.add(SecondFactor(account_id=account.id, kind="totp", created_at=clock.now(),
                                totp_secret=app.extensions[EXTENSION_KEY].box.seal(secret)))
            db.commit()
            db.close()
        added = app.test_cli_runner().invoke(args=["clients", "add", "--name", "Bench",
                                                   "--redirect-uri", CALLBACK, "--trusted"])
        lines = dict(line.split(None, 1) for line in added.output.splitlines() if line.startswith("client_"))
        client_id, client_secret = lines["client_id"].strip(), lines["client_secret"].strip()
        totp = app.extensions[EXTENSION_KEY].factors.totp(secret)

        statements = 0

        def count(*_args: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(core.engine, "before_cursor_execute", count)
        challenge_time = authorize_time = exchange_time = 0.0
        challenge_statements = exchange_statements = 0
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        browsers = []
        for _ in range(ROUNDS):
            clock.advance(seconds=30)  # a new TOTP step: each code is accepted once (S11)
            browser = app.test_client()
            token = csrf(browser.get("/signin").get_data(as_text=True))
            browser.post("/signin", data={"csrf_token": token, "username": "bench",
                                          "password": PASSWORD})
            token = csrf(browser.get("/2fa/challenge").get_data(as_text=True))
            code = totp.code_for_step(totp.step_at(clock.now()))
            before, start = statements, time.perf_counter()
            response = browser.post("/2fa/challenge", data={"csrf_token": token, "code": code})
            challenge_time += time.perf_counter() - start
            challenge_statements += statements - before
            assert response.status_code == 303, response.status_code
            browsers.append(browser)
            # the portal's round trip at once, while this sign-in is fresh
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            query = urlencode({"response_type": "code", "client_id": client_id,
                               "redirect_uri": CALLBACK, "scope": "openid", "state": "s",
                               "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
                               "code_challenge_method": "S256"})
            start = time.perf_counter()
            response = browser.get("/authorize?" + query)
            authorize_time += time.perf_counter() - start
            code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
            server = app.test_client()
            before, start = statements, time.perf_counter()
            tokens = server.post("/token", headers={"Authorization": f"Basic {basic}"}, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "code_verifier": verifier})
            exchange_time += time.perf_counter() - start
            exchange_statements += statements - before
            assert tokens.status_code == 200, tokens.get_json()

        with app.app_context():
            db = core.session_factory()
            key = app.extensions["clef.oidc"].signing_keys.current(db, "RS256", clock.now())
            db.close()
        start = time.perf_counter()
        for _ in range(ROUNDS):
            jwt.encode({"alg": "RS256", "kid": key.kid}, {"sub": "x"}, key.key, ["RS256"])
        sign_rate = ROUNDS / (time.perf_counter() - start)

    n = len(browsers)
    print(f"TOTP challenge POST, one thread        : {n / challenge_time:8.1f} /s"
          f"  ({challenge_statements / n:.1f} SQL statements each)")
    print(f"authorize (signed in) -> code, 1 thread: {n / authorize_time:8.1f} /s")
    exchange_rate = n / exchange_time
    print(f"code exchange (ID token), one thread   : {exchange_rate:8.1f} /s"
          f"  ({exchange_statements / n:.1f} SQL statements each)")
    print(f"RS256 signatures, one core             : {sign_rate:8.1f} /s"
          f"  (the exchange runs at {exchange_rate / sign_rate:.0%} of it)")


if __name__ == "__main__":
    main()
