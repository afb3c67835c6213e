"""`python -m webjit ...` is the `webjit` command."""
import sys

from .cli import main

sys.exit(main())
