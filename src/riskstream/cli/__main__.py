"""``python -m riskstream.cli``: the ``riskstream`` command without its console script."""

import sys

from riskstream.cli import main

sys.exit(main())
