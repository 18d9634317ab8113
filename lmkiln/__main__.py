"""`python -m lmkiln`: the `lmkiln` command."""

from flows.cli import main

main()
