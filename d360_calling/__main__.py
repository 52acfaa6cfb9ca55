"""`python -m d360_calling`."""

import sys

from .cli import main

sys.exit(main())
