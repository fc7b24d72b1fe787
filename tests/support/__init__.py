"""Tools the tests share, one module per purpose (tests/helpers.py re-exports them all)."""
