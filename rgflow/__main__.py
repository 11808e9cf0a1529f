"""``python -m rgflow``: the ``rgflow`` command."""

import sys

from .cli import main

sys.exit(main())
