"""`python -m generator` runs the sitegen CLI."""

import sys

from generator.cli import main

sys.exit(main())
