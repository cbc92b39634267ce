"""What one run of the command line reads and writes besides its arguments: the standard
streams and the environment variables (httpie's `Environment`). `main(args, env)` takes
one, so the CLI runs in-process with a made-up environment (the tests) as it runs for real.

The core and the libraries under it read the process's own: home.paths() reads
$IM2MAIL_HOME, keyring reads $PYTHON_KEYRING_BACKEND, click and rich write to sys.stdout.
So an environment other than the process's is put in place for the length of the run and
the process's own put back afterwards, as click's CliRunner does.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO


class Environment:
    """The process's own unless told otherwise. (A plain class: a dataclass costs the
    start-up of every command a millisecond.)"""

    def __init__(
        self,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.stdin = sys.stdin if stdin is None else stdin
        self.stdout = sys.stdout if stdout is None else stdout
        self.stderr = sys.stderr if stderr is None else stderr
        self.environ = os.environ if environ is None else environ

    @contextmanager
    def applied(self) -> Iterator[None]:
        """This environment in place of the process's for the block; a no-op for the
        process's own."""
        streams = sys.stdin, sys.stdout, sys.stderr
        saved = None if self.environ is os.environ else dict(os.environ)
        sys.stdin, sys.stdout, sys.stderr = self.stdin, self.stdout, self.stderr
        if saved is not None:
            _replace_environ(self.environ)
        try:
            yield
        finally:
            sys.stdin, sys.stdout, sys.stderr = streams
            if saved is not None:
                _replace_environ(saved)


def _replace_environ(values: Mapping[str, str]) -> None:
    values = dict(values)  # a copy: `values` may be os.environ's own view
    os.environ.clear()
    os.environ.update(values)
