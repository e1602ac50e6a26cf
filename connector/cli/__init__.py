"""The command line; ``connector.cli.app:main`` is the console script."""
