"""``python -m ganprobe`` runs the command line."""

import sys

from ganprobe.front_ends.cli import main

sys.exit(main())
