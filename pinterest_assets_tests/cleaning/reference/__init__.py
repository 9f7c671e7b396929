"""Frozen copy of the cleaning library before the issue-13 speed work (test reference)."""
