"""CPU seconds of the processes a benchmark starts, and the load average beside them (Linux).

On a machine shared with other jobs the wall time of a run moves with the load as much as with
the code; the CPU seconds its own processes used do not, so a benchmark reports both. Two ways
to count, because a process's CPU reaches its parent's ``getrusage(RUSAGE_CHILDREN)`` only once
the parent has waited for it:

* ``children_cpu``: every finished child of this process (and every descendant each of them
  waited for), e.g. a `tafuta link` run, with its blinding workers;
* ``tree_cpu``: a process still running (a `tafuta serve`), read from ``/proc``: its own time,
  the children it has waited for, and every live descendant (a blinding pool kept for the life
  of the process has not been waited for yet).
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User + system seconds of this process's finished, waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone since it was listed
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after "(comm)", from field 3


def _live_processes() -> dict[int, list[str]]:
    """Every process's stat fields (``/proc/<pid>/task/*/children`` is not in every kernel)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = fields
    return found


def tree_cpu(pid: int) -> float:
    """User + system seconds of a running process, its waited-for children and every live
    descendant (0.0 for a process that is gone)."""
    processes = _live_processes()
    children: dict[int, list[int]] = {}
    for child, fields in processes.items():
        children.setdefault(int(fields[1]), []).append(child)  # stat field 4: the parent

    def total(p: int) -> float:
        if p not in processes:
            return 0.0
        utime, stime, cutime, cstime = (int(v) for v in processes[p][11:15])  # fields 14-17
        own = (utime + stime + cutime + cstime) / TICKS
        return own + sum(total(c) for c in children.get(p, []))

    return total(pid)


class LoadSampler:
    """The 1-minute load average every ``interval`` seconds on a daemon thread, until stopped."""

    def __init__(self, interval: float = 20.0):
        self.samples: list[float] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append(round(os.getloadavg()[0], 2))
            if self._stop.wait(self._interval):
                return
