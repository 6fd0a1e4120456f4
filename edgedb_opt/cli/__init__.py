"""The ``edgeopt`` command: a thin click shell over the Python API.

Every command is one call you could make in code; errors a user can cause are
:class:`~edgedb_opt.errors.EdgeOptError` and become one line on stderr, in one place
(:class:`~edgedb_opt.cli.common.EdgeoptGroup`). One module per family of commands, each
added to :data:`main` here, explicitly: ``data`` (init, seed), ``migrate`` (apply, rollback,
status), ``analysis`` (rewrite, health, advise), ``bench`` (bench, demo), ``load`` (loadtest).
"""

from __future__ import annotations

import click

from edgedb_opt.cli import analysis, bench, data, load, migrate
from edgedb_opt.cli.common import EdgeoptGroup, verbose_option

__all__ = ["main"]


@click.group(cls=EdgeoptGroup)
@verbose_option
@click.version_option(package_name="edgeopt")
def main() -> None:
    """edgeopt: fast, safely changeable SQLite / libSQL / Turso databases for edge handlers.

    Example: edgeopt init && edgeopt seed --scale small && edgeopt apply && edgeopt status
    """


for _command in (
    data.init,
    data.seed,
    migrate.apply,
    migrate.rollback,
    migrate.status,
    migrate.check,
    analysis.rewrite,
    analysis.health,
    analysis.advise,
    bench.bench,
    bench.demo,
    load.loadtest,
):
    main.add_command(_command)
