"""``python -m exermote_sgan`` is the ``exermote-sgan`` command."""

import sys

from .cli import main

sys.exit(main())
