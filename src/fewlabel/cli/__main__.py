"""``python -m fewlabel.cli``: the same as the ``fewlabel`` command."""

import sys

from fewlabel.cli import main

sys.exit(main())
