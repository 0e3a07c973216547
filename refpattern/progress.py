"""The one progress reporter of refpattern: timestamped lines and sample counters on stderr.

Every long job reports through it (``refpattern verify``, ``reproduce``, ``train``, and
``fit_patterns``/``fit_statistics``/``rho`` with ``progress=``)::

    progress = Progress("verify", enabled=True)
    progress("fitting S_a")                    # [verify    1.2 s] fitting S_a
    counter = progress.counter("fit_patterns", total=2048)
    counter.update(256)                        # [verify    1.3 s] fit_patterns: 256/2048 samples
    counter.close()                            # … 2048/2048 samples, done

A counter redraws its line in place (``\\r``) at most every 0.1 s on a terminal, and writes only
its final line to anything else (a log file gets one line per counter, not thousands).  Nothing
is written when the reporter is disabled; ``enabled=None`` enables it only when the stream is a
terminal.  A function's ``progress=`` argument takes ``None``, ``True``, ``False`` or a
``Progress`` (to report inside a caller's reporter); :meth:`Progress.resolve` turns it into one.
"""

from __future__ import annotations

import sys
import time

#: Seconds between two redraws of a counter on a terminal.
REDRAW_SECONDS = 0.1


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """Progress lines ``[label   12.3 s] message`` on ``stream`` (default ``sys.stderr``).

    Parameters
    ----------
    label : str
        What is running (``"verify"``, ``"reproduce"``, ``"fit_patterns"`` …).
    enabled : bool or None
        ``None``: only when ``stream`` is a terminal.
    stream : file object, optional
    """

    def __init__(self, label: str, enabled: bool | None = None, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.label = str(label)
        numpy_bool = type(enabled).__module__ == "numpy" and type(enabled).__name__ in ("bool", "bool_")
        if enabled is not None and not isinstance(enabled, bool) and not numpy_bool:
            # (a string such as "no" would read as True; numpy.bool_ by name: this floor imports nothing)
            raise TypeError(f"Progress enabled: expected True, False or None, got {enabled!r} "
                            f"({type(enabled).__name__})")
        self.enabled = _is_terminal(self.stream) if enabled is None else bool(enabled)
        self.started = time.perf_counter()

    @classmethod
    def resolve(cls, progress, label: str) -> Progress:
        """A reporter for a function's ``progress=`` argument: a ``Progress`` is used as given;
        ``None``, ``True`` or ``False`` make a new one labelled ``label``.

        Raises ``TypeError`` for anything else.
        """
        if isinstance(progress, Progress):
            return progress
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress: expected None, True, False or a refpattern Progress, got {progress!r}")
        return cls(label, progress)

    @property
    def seconds(self) -> float:
        """Seconds since this reporter was made."""
        return time.perf_counter() - self.started

    def prefix(self) -> str:
        return f"[{self.label} {self.seconds:6.1f} s]"

    def __call__(self, message: str) -> None:
        """One line: ``[label   12.3 s] message``."""
        if self.enabled:
            print(f"{self.prefix()} {message}", file=self.stream, flush=True)

    def counter(self, name: str, total: int | None = None, unit: str = "samples") -> Counter:
        """A counter of ``unit`` for the step ``name`` (``total`` may be unknown: None)."""
        return Counter(self, name, total, unit)


class Counter:
    """One step's count of samples (or another ``unit``); made by :meth:`Progress.counter`."""

    def __init__(self, progress: Progress, name: str, total: int | None, unit: str):
        self.progress, self.name, self.total, self.unit = progress, str(name), total, unit
        self.done = 0
        self._terminal = progress.enabled and _is_terminal(progress.stream)
        self._last_draw = 0.0

    def _line(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{self.progress.prefix()} {self.name}: {self.done}{of} {self.unit}"

    def update(self, count: int) -> None:
        """Add ``count`` units; redraw the line on a terminal (at most every :data:`REDRAW_SECONDS`)."""
        self.done += int(count)
        if not self._terminal:
            return
        now = time.perf_counter()
        if now - self._last_draw >= REDRAW_SECONDS:
            self._last_draw = now
            self.progress.stream.write("\r" + self._line())
            self.progress.stream.flush()

    def close(self) -> None:
        """The final line (``…, done``), on a terminal over the redrawn one."""
        if self.progress.enabled:
            self.progress.stream.write(("\r" if self._terminal else "") + self._line() + ", done\n")
            self.progress.stream.flush()
