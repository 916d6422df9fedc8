"""Ondo's benchmark suite: one command, one table (see bench/README.md)."""
