"""`python -m snnc.cli COMMAND ...` (and `torchrun ... -m snnc.cli train ...`)."""
import sys

from snnc.cli import main

sys.exit(main())
