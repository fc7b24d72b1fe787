"""The core's screens, one blueprint per feature."""
