"""Journeys in a real browser: Debian's Chromium driven by Playwright, axe-core on
every page (STYLE.md: "journeys in a real browser")."""
