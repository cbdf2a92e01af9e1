"""``python -m smspresto_pipeline.cli``: the ``smspresto`` command."""

from smspresto_pipeline.cli import main

main()
