"""The token endpoint's statements (issue 11): a refresh reads the client once, never
the account's password hash, claims the token by one conditional UPDATE (S40) and
commits once; the rotation still holds (a reused token revokes its family)."""

from __future__ import annotations

from sqlalchemy import event

from tests.oidc.conftest import full_flow


def _statements(app, call):
    engine = app.extensions["clef"].engine
    seen: list[str] = []
    commits: list[int] = []

    def on_statement(_conn, _cursor, statement, *_args) -> None:
        seen.append(" ".join(statement.split()))

    def on_commit(*_args) -> None:
        commits.append(1)

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    return result, seen, len(commits)


def refresh_statements(backend: str) -> tuple[int, int]:
    """(statements, commits) of a refresh without a ``scope`` parameter: the claim and
    the INSERT, one commit; on PostgreSQL one statement (both as a data-modifying CTE)
    in autocommit, so no BEGIN and no COMMIT either (issue 11)."""
    return (1, 0) if backend == "postgresql" else (2, 1)


def exchange_statements(backend: str) -> tuple[int, int]:
    """(statements, commits) of the common code exchange: the claim and the INSERT, one
    commit; on PostgreSQL one statement in autocommit (``Tokens.exchange_code_on``)."""
    return (1, 0) if backend == "postgresql" else (2, 1)


def test_s40_a_refresh_is_few_statements_and_one_commit(portal, alice, backend):
    flow = full_flow(portal)
    server = portal.app.test_client()
    refresh = {"grant_type": "refresh_token", "refresh_token": flow.tokens["refresh_token"]}
    response, seen, commits = _statements(portal.app, lambda: portal.token(server, refresh))
    assert response.status_code == 200
    assert commits == refresh_statements(backend)[1]
    # the client from this process's copy (its revision checked by the claim): was 1
    assert sum(s.startswith("SELECT oauth_clients") for s in seen) == 0, seen
    assert sum("UPDATE oauth_tokens" in s for s in seen) == 1, seen
    assert not [s for s in seen if "password_hash" in s], "the account row with its hash"
    assert len(seen) <= 6, "\n".join(seen)
    # the rotation holds: the used token again is refused, and revokes the new one (S40)
    assert portal.token(server, refresh).status_code == 400
    newer = {"grant_type": "refresh_token", "refresh_token": response.get_json()["refresh_token"]}
    assert portal.token(server, newer).status_code == 400


def test_an_authorization_commits_the_session_with_the_portal_session(portal, alice):
    """The first authorization after signing in puts the portal session's sid into the
    person's session in the same commit as the portal session, the audit row and the
    code: one commit, and none for a write-back (issue 11)."""
    from tests.helpers import pass_second_factor, sign_in_at
    from tests.oidc.rp import Request

    browser = portal.app.test_client()
    first = browser.get(portal.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(portal.app, browser, "alice")
    response, _seen, commits = _statements(portal.app,
                                           lambda: browser.get(back.headers["Location"]))
    assert "code" in portal.callback(response)
    assert commits == 1
