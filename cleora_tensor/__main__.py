"""``python -m cleora_tensor``: the command-line interface."""

import sys

from .cli import main

sys.exit(main())
