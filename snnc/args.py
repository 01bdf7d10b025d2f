"""The argument parser of every `snnc` command: a usage error is one line."""
from __future__ import annotations

import argparse

from snnc.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors raise `UsageError` (printed as one `error:` line,
    exit status 2) instead of printing the usage block; `--help` is unchanged."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")
