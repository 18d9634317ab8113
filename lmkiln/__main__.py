"""`python -m lmkiln`: the `lmkiln` command."""

from lmkiln.cli import main

main()
