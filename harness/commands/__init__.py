"""The bodies of the console scripts (``codegan-run``, ``codegan-eval``, ``codegan-score``, ``codegan-data``,
``codegan-extractor``); each also runs as ``python -m harness.commands.<name>``."""
