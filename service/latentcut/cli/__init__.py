"""The ``latentcut`` command line: parsing arguments, printing results, choosing exit codes."""
