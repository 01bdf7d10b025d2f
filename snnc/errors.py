"""Exceptions with one-line messages: each names the file, node or parameter."""


class SnncError(Exception):
    """Base class; the CLI prints `error: <message>` and exits with status 2."""


class GraphError(SnncError):
    """A node or graph violates the IR's shape, dtype or range rules."""


class FormatError(SnncError):
    """A file is corrupt, foreign or of an unsupported format version."""


class DesignRuleError(SnncError):
    """A graph breaks a target's design rule (names rule, node and numbers)."""

    def __init__(self, rule: str, node: str, detail: str):
        self.rule, self.node, self.detail = rule, node, detail
        super().__init__(f"design rule '{rule}' violated by node '{node}': {detail}")


class InputError(SnncError):
    """Simulation input has the wrong shape, dtype or values."""


class ConfigError(SnncError):
    """A training or compile configuration has a bad key or value."""


class BackendUnavailable(SnncError):
    """An optional external executor (Lava, xylosim) is not installed."""


class CompileError(SnncError):
    """A checkpoint or graph cannot be compiled for the asked target (names what and why)."""


class OutputError(SnncError):
    """An output path cannot be written (a directory, FIFO or device, unwritable, bad suffix)."""


class GateRefused(SnncError):
    """A deployed graph lost more accuracy than the fidelity gate allows (exit status 3)."""

    exit_status = 3


class UsageError(SnncError):
    """A command line that does not parse (unknown option, missing argument, bad choice)."""


def one_line(text: str) -> str:
    """`text` safe to print as one terminal line: control and format characters (newlines,
    escape sequences, bidi overrides) from file or node names are shown escaped, not obeyed."""
    import unicodedata

    return "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") else ascii(ch)[1:-1]
                   for ch in text)
