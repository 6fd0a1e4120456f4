"""``python -m edgedb_opt`` runs the ``edgeopt`` command."""

from edgedb_opt.cli import main

main(prog_name="edgeopt")
