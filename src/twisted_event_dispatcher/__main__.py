"""``python -m twisted_event_dispatcher``: the ``tedtool`` command line."""

from __future__ import annotations

import sys

from twisted_event_dispatcher._cli import main

if __name__ == "__main__":
    sys.exit(main())
