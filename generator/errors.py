"""Fatal errors: the only exceptions that reach the CLI edge.

Per-item problems are not exceptions; they are `report.Problem`s and the
build goes on (see report.py).
"""


class SitegenError(Exception):
    """Base of every fatal error; the CLI prints it and exits non-zero."""

    exit_code = 1


class ConfigError(SitegenError):
    """The configuration or the command line is wrong; nothing was built."""

    exit_code = 2

    def __init__(self, messages: list[str] | str) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


class BuildError(SitegenError):
    """The build could not finish (output not writable, another build running...)."""


class BuildLocked(BuildError):
    """Another build holds the output's lock."""

    exit_code = 3


class PublishError(SitegenError):
    """Publishing to a bucket stopped (credentials, network, a refused upload or delete)."""
