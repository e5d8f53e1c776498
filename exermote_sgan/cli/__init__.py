"""The command line: ``exermote-sgan COMMAND``, one module per subcommand.

:mod:`.main` parses the command line, installs the output filtering of other libraries' noise
(only there: importing the package changes nothing in the process) and turns
:class:`~exermote_sgan.errors.ExermoteInputError` into one line and exit status 2.  Each command
module defines ``add_parser(subparsers)`` and ``run(args) -> int``, checks its options before
anything heavy loads, and imports TensorFlow only inside ``run``.
"""
