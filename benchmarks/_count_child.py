"""What ``_callgrind.py`` runs under callgrind: ``_count_child.py WORKLOAD CASE EVENTS``.

Builds one case of one workload (see ``_workloads.count_op``), moves what it
built out of the cyclic collector's sight (as the timing harness does), and
fires it EVENTS times.
"""

from __future__ import annotations

import gc
import sys
from itertools import repeat
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workloads import count_op


def main(argv: list[str]) -> int:
    workload, case, events = argv
    op = count_op(workload, case)
    gc.collect()
    gc.freeze()
    for _ in repeat(None, int(events)):
        op()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
