"""Walks Clef's own pages for the load driver (``oidc_bench.py --adapter clef_adapter``).

After ``GET /authorize`` the driver lands on the sign-in page; this fills it, then the
TOTP challenge (a code computed from the account's secret), then the consent page
(``decision=allow``), and returns the redirect to the portal. Forms are picked by their
action, never by position: every page also carries the sign-out and keep-alive forms.
"""

from __future__ import annotations

import time
from typing import Any

import latency_log
from oidc_bench import FlowError, follow, is_client_redirect, parse_forms, submit_form, totp_now


def _form(page: Any, action_part: str) -> dict[str, Any] | None:
    for form in parse_forms(page.text):
        if form["method"] == "post" and action_part in form["action"]:
            return form
    return None


def complete_interaction(http: Any, resp: Any, cfg: Any) -> Any:
    for _ in range(5):  # sign-in, second factor, consent, margin
        if is_client_redirect(resp, cfg):
            return resp
        if resp.status_code != 200:
            raise FlowError(f"unexpected status {resp.status_code} at {resp.url}: {resp.text[:160]!r}")
        if (form := _form(resp, "/signin")) and "password" in form["fields"]:
            data = {"username": cfg.username, "password": cfg.password}
        elif (form := _form(resp, "/2fa/challenge")) is not None:
            data = {"code": totp_now(cfg.totp_secret)}
        elif (form := _form(resp, "/authorize")) is not None or (
                form := _form(resp, "consent")) is not None:
            data = {"decision": "allow"}
        else:
            raise FlowError(f"no known form at {resp.url}: {resp.text[:200]!r}")
        started = time.monotonic()
        posted = submit_form(http, resp, form, data, cfg)
        if "password" in data:  # the password step's own latency (fixed-rate runs)
            latency_log.record("password", time.monotonic() - started)
        resp = follow(http, posted, cfg)
    raise FlowError("interaction did not finish within 5 pages")
