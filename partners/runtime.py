"""The slice's services of the running app (what its views and commands use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app

from partners.registry import Partners
from partners.upstream import Upstream

EXTENSION_KEY = "clef.partners"


@dataclass(frozen=True)
class PartnerServices:
    partners: Partners
    upstream: Upstream


def partner_services() -> PartnerServices:
    return cast(PartnerServices, current_app.extensions[EXTENSION_KEY])
