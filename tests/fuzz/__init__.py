"""Hypothesis over every form and every provider endpoint: never a 5xx, never a stack
trace, never a secret in a response or the log, and a refused request changes nothing."""
