"""One module per ``longtail`` subcommand.

Each module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a function taking the parsed arguments and returning an exit status.
The CLI finds the modules itself: adding a command is adding a module here.
"""
