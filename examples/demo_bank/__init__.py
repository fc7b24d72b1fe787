"""A demonstration sign-in partner for ``make run`` (J14)."""
