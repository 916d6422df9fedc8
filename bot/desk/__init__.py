"""The help desk: hours, SLAs, assignment, saved replies, satisfaction."""
