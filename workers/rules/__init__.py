"""Each built-in task kind's static checks, light enough for `swarm validate`: one module per
kind plus :mod:`workers.rules.common`, importing only the standard library, :mod:`swarm.errors`,
:mod:`swarm.task_fields`, :mod:`swarm.output_schema` and each other (a test holds them to it).

A kind's worker module delegates its ``check`` here and takes its constants from here, so there
is one copy of each rule; :func:`workers.registry.rules_for` finds them by kind.
"""
