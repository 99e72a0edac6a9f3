"""The ``overlay`` command line: one subcommand for every process."""
