"""The one exception type the CLI turns into a one-line message and exit code 1."""


class MlopsError(Exception):
    """A problem the user can fix; its message says what and how."""
