"""``python -m legacy_sim``: the ``overlay sim`` commands without the main CLI."""

from legacy_sim.cli import sim_app

if __name__ == "__main__":
    sim_app()
