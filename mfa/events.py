"""Audit tags of the second-factor slice (S28), ``source:subject:action`` as the core's."""

ENROLLED = "account:2fa:enrolled"
CHANGED = "account:2fa:changed"
FAILURE = "account:2fa:failure"
# A wrong or missing first code while setting a factor up (S28): not a sign-in failure.
SETUP_FAILURE = "account:2fa:setup_failure"
LOCKED = "account:2fa:locked"
CODE_SENT = "account:2fa:code_sent"
RECOVERY_CODE_USED = "account:recovery_code:used"
RECOVERY_CODE_FAILURE = "account:recovery_code:failure"
RECOVERY_CODES_REPLACED = "account:recovery_codes:replaced"
OTHER_SESSIONS_ENDED = "account:sessions:others_ended"
# D3: security keys added, removed, and one whose sign counter went back (a clone).
KEY_ADDED = "account:security_key:added"
KEY_REMOVED = "account:security_key:removed"
KEY_COUNTER_WENT_BACK = "account:security_key:cloned"
