"""Authentication context classes (D2): what a portal learns about how the person
signed in, and what it may demand with ``acr_values``.

Levels, weakest first: a recovery code, an emailed code, an authenticator app, and a
phishing-resistant factor (D3: a security key or passkey, amr ``hwk`` or ``swk``).
"""

from __future__ import annotations

ACR_RECOVERY_CODE = "urn:clef:acr:recovery-code"
ACR_EMAIL = "urn:clef:acr:email-code"
ACR_APP = "urn:clef:acr:authenticator-app"
ACR_PHISHING_RESISTANT = "urn:clef:acr:phishing-resistant"
# J14: the person came through a sign-in partner; Clef cannot vouch for how the partner
# authenticated them, so it ranks below every factor Clef checks itself.
ACR_PARTNER = "urn:clef:acr:partner"
# D14: the partner's own acr, as the partner said it, when the partner is registered as
# vouching for that value (`clef partners add --acr`). Its own claim in the ID token,
# never Clef's ``acr``: it does not raise the level, and a portal cannot mistake it for
# a Clef level. Kept in the sign-in session's data under the same name.
PARTNER_ACR = "partner_acr"
FEDERATED_AMR = "fed"
LEVELS = (ACR_PARTNER, ACR_RECOVERY_CODE, ACR_EMAIL, ACR_APP, ACR_PHISHING_RESISTANT)
# amr (set by the second-factor slice, D2) -> acr
BY_AMR = {"fed": ACR_PARTNER, "kba": ACR_RECOVERY_CODE, "mail": ACR_EMAIL, "otp": ACR_APP,
          "hwk": ACR_PHISHING_RESISTANT, "swk": ACR_PHISHING_RESISTANT}


def achieved(amr: str | None) -> str:
    """The acr of a sign-in with these amr values (the strongest factor in them)."""
    found = [BY_AMR[m] for m in (amr or "").split() if m in BY_AMR]
    return max(found, key=LEVELS.index) if found else ACR_RECOVERY_CODE


def satisfies(have: str, wanted: list[str]) -> bool:
    """True when ``have`` is at least one of the known levels asked for (unknown values
    are ignored, as OIDC Core §3.1.2.1 makes acr_values voluntary)."""
    known = [w for w in wanted if w in LEVELS]
    if not known:
        return True
    return LEVELS.index(have) >= min(LEVELS.index(w) for w in known)
