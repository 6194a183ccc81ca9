"""``python -m ganprobe`` runs the command line."""

import sys

from ganprobe.cli import main

sys.exit(main())
