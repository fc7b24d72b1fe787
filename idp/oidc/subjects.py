"""The ``sub`` a portal sees (S45, J13): pairwise by default, the same for every portal
of one sector and different across sectors, so portals cannot link a person through
Clef; a public identifier only for a client registered so.

Both are keyed hashes of the account id: stable, meaningless without the service
secret, and computed without a table.
"""

from __future__ import annotations

from typing import Protocol

from idp.keys import KeyRing
from idp.oidc.models import PUBLIC


class SubjectOwner(Protocol):
    """What decides a portal's ``sub``: a client row (``OAuthClient``), or a Core row
    carrying its two columns (UserInfo's one look-up, issue 11)."""

    @property
    def subject_type(self) -> str: ...

    @property
    def sector(self) -> str: ...

PAIRWISE_PURPOSE = "oidc.sub.pairwise"
PUBLIC_PURPOSE = "oidc.sub.public"


def subject_for(keys: KeyRing, client: SubjectOwner, account_id: int) -> str:
    if client.subject_type == PUBLIC:
        return keys.keyed_hash(PUBLIC_PURPOSE, str(account_id))
    return keys.keyed_hash(PAIRWISE_PURPOSE, f"{client.sector}\n{account_id}")


SID_PURPOSE = "oidc.sid"


def session_id_for(keys: KeyRing, client: SubjectOwner, sid: str) -> str:
    """The ``sid`` a portal sees for a sign-in session: per sector like ``sub``, so two
    portals cannot link their sessions by it either (J13)."""
    return keys.keyed_hash(SID_PURPOSE, f"{client.sector}\n{sid}")[:43]
