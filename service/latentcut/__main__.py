"""``python -m latentcut``: the same as the ``latentcut`` command."""

import sys

from latentcut.cli.main import main

sys.exit(main())
