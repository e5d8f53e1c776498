"""Subcommands of ``exermote-sgan``: each module has ``add_parser(subparsers)`` and ``run(args)``.

A command module imports TensorFlow only inside ``run``; ``set_defaults(run=run)`` binds it.
"""
