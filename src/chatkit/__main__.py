"""`python -m chatkit` runs the `chatkit` command."""

import sys

from chatkit.cli import main

sys.exit(main())
