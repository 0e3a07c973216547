"""``python -m refpattern`` is the ``refpattern`` command."""

import sys

from refpattern.cli import main

sys.exit(main())
