"""`python -m gitml.ci <cmd>`: the workflows' decisions (see `gitml.ci.cli`)."""

from gitml.ci.cli import main

main()
