"""Benchmarks: ``python -m tests.bench [--quick] [--profile] [--only SUITE]`` (``make bench``).

Suites run in order: ``unary`` (``tests.bench.unary``), then ``watch`` once a module
``tests.bench.watch`` exists. A suite module exposes ``run(options) -> SuiteResult``
(see ``_common``) and may expose ``add_arguments(parser)``. Results are printed as Markdown
and written to ``tests/bench/results-latest.md``.
"""
