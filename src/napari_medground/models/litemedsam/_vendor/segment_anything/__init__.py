"""Minimal vendored subset of Segment Anything modeling components (Apache-2.0)."""
