"""Forgotten credentials (J6, J7): forgot username, forgot password by emailed code or
by security questions. Built on the core's accounts, email codes and mail services."""
