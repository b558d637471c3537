"""``python -m mavtools``: the same as the ``mavtools`` command."""

import sys

from mavtools.cli import main

sys.exit(main())
