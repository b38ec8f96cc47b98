"""Proposed changes: code from answers, diffs, test-file conventions (pure)."""
