"""``python -m alembert.cli``: the ``alembert`` command."""

import sys

from alembert.cli.app import main


sys.exit(main())
