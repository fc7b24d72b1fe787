"""Sign-in answers the same way whether or not the account exists (S6, ASVS 6.3.8):
the same status and page, the same work (one argon2 verification each), and, checked
statistically with real argon2 parameters, the same time."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from tests.helpers import GOOD_PASSWORD, create_account, csrf, csrf_from, register

WRONG = "not the right password"


class CountingArgon2:
    """Stands in for the hasher's argon2 object (which has slots, so its methods cannot
    be patched): counts ``verify`` and ``hash`` calls and passes everything through."""

    def __init__(self, inner):
        self._inner = inner
        self.calls = {"verify": 0, "hash": 0}

    def verify(self, *args, **kwargs):
        self.calls["verify"] += 1
        return self._inner.verify(*args, **kwargs)

    def hash(self, *args, **kwargs):
        self.calls["hash"] += 1
        return self._inner.hash(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def count_argon2(app, monkeypatch) -> dict[str, int]:
    hasher = app.extensions["clef"].hasher
    counting = CountingArgon2(hasher._argon2)
    monkeypatch.setattr(hasher, "_argon2", counting)
    return counting.calls


@pytest.fixture
def argon2_calls(app, monkeypatch) -> dict[str, int]:
    return count_argon2(app, monkeypatch)


def _attempt(client, username: str, password: str = WRONG):
    token = csrf(client, "/signin")
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": password})


def _masked(response, username: str) -> str:
    """The page without what must differ: the form token, the username typed back."""
    body = response.get_data(as_text=True)
    body = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1TOKEN", body)
    return body.replace(f'value="{username}"', 'value="USERNAME"')


def test_known_and_unknown_username_do_one_argon2_verification_each_S6(app, argon2_calls):
    create_account(app, "alice")
    client = app.test_client()
    csrf(client, "/signin")
    argon2_calls["verify"] = 0
    _attempt(client, "alice")
    assert argon2_calls["verify"] == 1
    _attempt(client, "nobody-here")
    assert argon2_calls["verify"] == 2
    _attempt(client, "alice", GOOD_PASSWORD)
    assert argon2_calls["verify"] == 3


def test_known_and_unknown_username_get_the_same_answer_S6(app):
    create_account(app, "alice")
    known = _attempt(app.test_client(), "alice")
    unknown = _attempt(app.test_client(), "nobody-here")
    assert known.status_code == unknown.status_code == 401
    assert _masked(known, "alice") == _masked(unknown, "nobody-here")
    assert "The username or password is not correct." in known.get_data(as_text=True)
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())


def test_locked_known_and_unknown_usernames_do_no_verification_S6_D4(make_app, monkeypatch):
    app = make_app(lockout={"threshold": 1, "permanent_after": 100})
    create_account(app, "alice")
    client = app.test_client()
    _attempt(client, "alice")
    _attempt(client, "nobody-here")
    calls = count_argon2(app, monkeypatch)
    known, unknown = _attempt(client, "alice"), _attempt(client, "nobody-here")
    assert calls == {"verify": 0, "hash": 0}
    assert known.status_code == unknown.status_code == 429
    assert _masked(known, "alice") == _masked(unknown, "nobody-here")


def test_registration_hashes_once_whether_or_not_the_name_is_taken_S6(app, argon2_calls):
    """S6: refusing a taken username costs the same argon2 work as accepting a new one."""
    create_account(app, "alice")
    argon2_calls["hash"] = 0
    taken = register(app.test_client(), "alice", "another decent passphrase")
    assert taken.status_code == 400
    assert argon2_calls["hash"] == 1
    free = register(app.test_client(), "bertrand", "another decent passphrase")
    assert free.status_code == 303
    assert argon2_calls["hash"] == 2


# --- Timing -----------------------------------------------------------------------------

ROUNDS = 30
REAL_ARGON2 = {"memory_kib": 19456, "time_cost": 2, "parallelism": 1}


@pytest.mark.slow
def test_sign_in_time_does_not_reveal_whether_the_account_exists_S6(make_app, backend):
    """S6: with the shipped argon2 parameters, the median time of a wrong password for
    an existing account and of any password for a missing one are within a factor of
    two of each other (interleaved, so machine load affects both alike). Skipping the
    dummy verification for unknown names makes the ratio about 0.05."""
    app = make_app(
        argon2=REAL_ARGON2,
        # Neither the account lock nor the per-IP limit may step in: this measures the
        # password step itself.
        lockout={"threshold": 10_000, "permanent_after": 10_000},
        rate_limit={"signin_per_ip": "10000/minute"},
    )
    create_account(app, "alice")
    client = app.test_client()
    token = csrf_from(client.get("/signin"))

    def timed(username: str) -> float:
        start = time.perf_counter()
        response = client.post("/signin", data={"csrf_token": token, "username": username,
                                                "password": WRONG})
        elapsed = time.perf_counter() - start
        assert response.status_code == 401
        return elapsed

    timed("alice"), timed("nobody-here")  # warm up caches and connections
    known: list[float] = []
    unknown: list[float] = []
    for i in range(ROUNDS):
        pair = [("alice", known), (f"nobody-{i}", unknown)]
        for username, times in (pair if i % 2 else reversed(pair)):
            times.append(timed(username))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    # The measurement means something only if argon2 dominates the request.
    assert known_median > 0.005, f"argon2 too cheap to measure: {known_median:.4f}s"
    ratio = unknown_median / known_median
    assert 0.5 <= ratio <= 2.0, (
        f"{backend}: unknown {unknown_median * 1000:.1f} ms vs known "
        f"{known_median * 1000:.1f} ms (ratio {ratio:.2f})"
    )
