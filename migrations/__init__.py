"""Alembic migrations of the swarm database, shipped in the wheel and run by ``swarm db upgrade``.

:mod:`swarm.store.migrate` builds the Alembic configuration in code (no ``alembic.ini``) with
``script_location`` pointing at this package's folder. To add a revision, edit
``swarm/store/schema.py`` and then, from a Python shell::

    from alembic import command
    from swarm.store.migrate import alembic_config
    command.revision(alembic_config(), message="what changed", autogenerate=True)

with ``SWARM_DB`` naming a database already at the current head; check the generated file by
hand, bump ``HEAD`` in ``swarm/store/migrate.py``, and keep the test comparing the migrated
schema with ``schema.py`` green.
"""
