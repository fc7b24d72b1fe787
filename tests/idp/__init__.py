"""Tests of the core (``idp``): services against real databases, flows through the test client."""
