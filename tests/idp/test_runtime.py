"""The container (issue 10, item 3): built once, frozen, slices plug in through
explicit registration points, and each service gets what it uses."""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError

import pytest

from idp.oidc.backchannel import Backchannel
from idp.oidc.runtime import EXTENSION_KEY as OIDC_KEY
from idp.runtime import Services
from recovery.reset import ResetService
from tests.helpers import create_account


def test_i10_the_container_is_frozen_after_the_factory(app):
    svc: Services = app.extensions["clef"]
    with pytest.raises(FrozenInstanceError):
        svc.mailer = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        svc.resealers["mine"] = lambda _db, _box: 0  # type: ignore[index]


def test_i10_slices_registered_through_the_registration_points(app):
    svc: Services = app.extensions["clef"]
    assert set(svc.resealers) == {"mail waiting to be sent", "TOTP secrets", "token signing keys",
                                  "sign-in partner secrets"}
    with pytest.raises(ValueError, match="already registered"):
        svc.add_resealer("TOTP secrets", lambda _db, _box: 0)
    with pytest.raises(ValueError, match="already set"):
        svc.set_factor_policy(lambda _db, _account_id: None)


def test_i10_the_factor_policy_is_the_mfa_slices(app):
    """Told by mfa: the amr of the account's second factor, None without one."""
    svc: Services = app.extensions["clef"]
    with_app = create_account(app, "dora")
    without = create_account(app, "fred", second_factor=None)
    with svc.session_factory() as db:
        assert svc.factor_amr(db, with_app.id) == "otp"
        assert svc.factor_amr(db, without.id) is None


def test_i10_sessions_ended_listeners_are_told(app):
    """The provider's back-channel logout is registered on the session store."""
    svc: Services = app.extensions["clef"]
    told = []
    svc.on_sessions_ended(lambda _db, ended, reason: told.append((len(ended), reason)))
    account = create_account(app, "erin")
    with svc.session_factory() as db:
        _token, record = svc.sessions.create(db, svc.clock.now(), {})
        record.account_id = account.id
        db.commit()
        assert svc.sessions.end_for_account(db, account.id) == 1
        db.commit()
    assert told == [(1, "account")]
    assert app.extensions[OIDC_KEY].backchannel is not None


@pytest.mark.parametrize("service", [ResetService, Backchannel])
def test_i10_services_take_what_they_use_not_the_container(service):
    hints = inspect.signature(service.__init__).parameters.values()
    assert all("Services" not in str(p.annotation) for p in hints)
