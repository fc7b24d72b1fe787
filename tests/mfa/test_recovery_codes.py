"""Recovery codes (S13): at least 64 random bits, kept as keyed hashes, single use
(also under a race), the whole set replaced at once."""

from __future__ import annotations

import math
import threading

from sqlalchemy import select

from mfa.models import RecoveryCode
from mfa.recovery_codes import ALPHABET, normalise
from mfa.runtime import EXTENSION_KEY
from tests.helpers import create_account


def _codes(app):
    return app.extensions[EXTENSION_KEY].recovery_codes


def _issue(app, account_id: int) -> list[str]:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        codes = _codes(app).replace(db, account_id, svc.clock.now())
        db.commit()
        return codes
    finally:
        db.close()


def _burn(app, account_id: int, typed: str) -> bool:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        used = _codes(app).burn(db, account_id, typed, svc.clock.now())
        db.commit()
        return used
    finally:
        db.close()


def test_ten_codes_of_at_least_64_bits_S13(app):
    account = create_account(app, "alice")
    codes = _issue(app, account.id)
    assert len(codes) == 10 == len(set(codes))
    for code in codes:
        bare = normalise(code)
        assert set(bare) <= set(ALPHABET)
        assert len(bare) * math.log2(len(ALPHABET)) >= 64


def test_codes_are_stored_as_keyed_hashes_only_S13(app):
    account = create_account(app, "alice")
    codes = _issue(app, account.id)
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        stored = db.scalars(select(RecoveryCode.code_hash)).all()
    finally:
        db.close()
    assert len(stored) == 10
    for code in codes:
        for form in (code, normalise(code), code.lower()):
            assert all(form not in value for value in stored)


def test_a_code_works_once_and_typing_it_loosely_is_fine_S13(app):
    account = create_account(app, "alice")
    codes = _issue(app, account.id)
    loose = " " + codes[0].lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
    assert _burn(app, account.id, loose)
    assert not _burn(app, account.id, codes[0])
    db = app.extensions["clef"].session_factory()
    try:  # closed at once: a transaction left open blocks the next test's TRUNCATE (PostgreSQL)
        assert _codes(app).remaining(db, account.id) == 9
    finally:
        db.close()


def test_a_code_of_one_account_does_nothing_for_another(app):
    alice = create_account(app, "alice")
    bob = create_account(app, "bob")
    codes = _issue(app, alice.id)
    _issue(app, bob.id)
    assert not _burn(app, bob.id, codes[0])
    assert _burn(app, alice.id, codes[0])


def test_replacing_the_set_kills_every_old_code_S13(app):
    account = create_account(app, "alice")
    old = _issue(app, account.id)
    new = _issue(app, account.id)
    assert not set(old) & set(new)
    assert not any(_burn(app, account.id, code) for code in old)
    assert _burn(app, account.id, new[0])


def test_two_concurrent_uses_of_one_code_exactly_one_wins_S13(app):
    """Two workers redeem the same code at the same moment, each in its own database
    session and transaction: the conditional UPDATE lets exactly one through."""
    account = create_account(app, "alice")
    code = _issue(app, account.id)[0]
    for _ in range(5):  # several rounds, each with a fresh code, to give the race a chance
        assert sorted(_race(app, account.id, code)) == [False, True]
        code = _issue(app, account.id)[0]


def _race(app, account_id: int, code: str) -> list[bool]:
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def redeem() -> None:
        barrier.wait()
        results.append(_burn(app, account_id, code))

    workers = [threading.Thread(target=redeem) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results
