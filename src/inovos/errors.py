"""The one exception type for user mistakes (bad paths, bad files, bad options).

The CLI prints its message on one line and exits with status 2; anything else
that escapes is a bug and keeps its traceback.
"""


class InovosError(Exception):
    """A problem with the user's input, reported without a traceback."""
