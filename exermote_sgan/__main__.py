"""``python -m exermote_sgan`` is the ``exermote-sgan`` command."""

import sys

from .cli.main import main

sys.exit(main())
