"""`python -m admit` runs the command line."""

from admit.cli import main

main()
