"""The help desk's policy (issue 20): its settings (``desk.yaml``), business hours and SLAs.

Pure modules: instants are passed in as epoch seconds, nothing here reads the clock.
"""
