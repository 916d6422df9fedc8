"""Ondo core: the platform-free conversation engine."""

__version__ = "0.1.0"
