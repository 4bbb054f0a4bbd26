"""`python -m fengqiao.cli`: the same as the `fengqiao` script (tests start the CLI this way)."""

from fengqiao.cli import main

main()
