"""What every ``ondo`` command shares: the user-facing error and the exit codes."""

from __future__ import annotations

import argparse

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def usage(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help (a command group given without its command); exit code 2."""
    parser.print_help()
    return EXIT_USAGE
