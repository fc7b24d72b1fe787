"""Every test helper by its old name. The helpers live in ``tests/support/``, one module
per purpose (accounts, screens, mailbox, records, app, catalogue); new tests import
from there. This module stays so imports written against it keep working."""

from __future__ import annotations

from tests.support.accounts import (
    GOOD_PASSWORD,
    TEST_TOTP_SECRET,
    create_account,
    current_totp,
    fresh_totp,
    get_account,
    give_second_factor,
)
from tests.support.app import (
    deep_merge,
    run_cli,
)
from tests.support.catalogue import (
    PO_FILE,
    french,
)
from tests.support.mailbox import (
    CODE_RE,
    body_of,
    decoded_header,
    emailed_code,
    outbox,
)
from tests.support.records import (
    audit_events,
    audit_tags,
    session_cookie_name,
    session_row,
    session_token,
    set_session_token,
)
from tests.support.screens import (
    CSRF_RE,
    RECOVERY_CODE_RE,
    SECRET_RE,
    csrf,
    csrf_from,
    enrol_app,
    pass_second_factor,
    register,
    shown_recovery_codes,
    shown_secret,
    sign_in,
    sign_in_at,
    sign_out_via,
)

__all__ = [
    "CODE_RE",
    "CSRF_RE",
    "GOOD_PASSWORD",
    "PO_FILE",
    "RECOVERY_CODE_RE",
    "SECRET_RE",
    "TEST_TOTP_SECRET",
    "audit_events",
    "audit_tags",
    "body_of",
    "create_account",
    "csrf",
    "csrf_from",
    "current_totp",
    "decoded_header",
    "deep_merge",
    "emailed_code",
    "enrol_app",
    "french",
    "fresh_totp",
    "get_account",
    "give_second_factor",
    "outbox",
    "pass_second_factor",
    "register",
    "run_cli",
    "session_cookie_name",
    "session_row",
    "session_token",
    "set_session_token",
    "shown_recovery_codes",
    "shown_secret",
    "sign_in",
    "sign_in_at",
    "sign_out_via",
]
