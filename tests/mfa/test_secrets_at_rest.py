"""Secrets at rest (S11, S12, S13): after a real enrolment, sign-ins with an emailed
code and a recovery code, the database holds no TOTP secret, recovery code or email
code in clear, in any column of any table, the session rows included."""

from __future__ import annotations

import re

from sqlalchemy import MetaData, create_engine, select

from tests.helpers import (
    create_account,
    csrf,
    emailed_code,
    enrol_app,
    outbox,
    sign_in,
    sign_out_via,
)


def every_stored_value(database_url: str) -> str:
    """Each value of each row of each table, read with a fresh engine (not the app's)."""
    engine = create_engine(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        lines = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    lines.append(f"{table.name}: " + " | ".join(str(value) for value in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


def test_no_second_factor_secret_in_clear_in_the_database_S11_S12_S13(app, client, database_url):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True,
                   second_factor=None)
    sign_in(client, "alice")
    secret, codes = enrol_app(app, client, saved=False)  # codes still pending display
    stored_while_pending = every_stored_value(database_url)
    client.post("/2fa/recovery-codes", data={"csrf_token": csrf(client, "/2fa/recovery-codes"),
                                             "saved": "y"})
    # switch to email codes, so a live emailed code sits in the database
    client.post("/2fa/setup", data={"csrf_token": csrf(client, "/2fa/setup"), "method": "email"})
    client.get("/2fa/setup/email")
    email_code = emailed_code(outbox(app)[-1])
    stored_with_live_code = every_stored_value(database_url)
    sign_out_via(client)
    sign_in(client, "alice")
    client.post("/2fa/recover", data={"csrf_token": csrf(client, "/2fa/recover"), "code": codes[0]})
    stored_after = every_stored_value(database_url)

    assert "second_factors: " in stored_while_pending and "recovery_codes: " in stored_while_pending
    assert "email_codes: " in stored_with_live_code
    for stored in (stored_while_pending, stored_with_live_code, stored_after):
        upper = stored.upper()
        assert secret not in upper
        assert secret[:16] not in upper and secret[16:] not in upper
        for code in codes:
            assert code not in upper and code.replace("-", "") not in upper
    assert not re.search(rf"(?<![0-9a-fA-F]){email_code}(?![0-9a-fA-F])", stored_with_live_code)
