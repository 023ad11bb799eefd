"""Mutation testing of the critical modules with mutmut (``make mutation``).

``python -m tests.mutation`` runs mutmut over the modules listed in
``[tool.mutmut] only_mutate`` of pyproject.toml within a time budget, then
prints (and writes to ``tests/mutation/last-report.md``) the score per module
and the surviving mutants. ``_targets.py`` maps each module to the tests that
may kill its mutants; ``pytest_plugin.py`` enforces that mapping inside
mutmut's pytest runs. Not part of ``make test``.
"""
