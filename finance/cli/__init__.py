"""The command line: python -m finance."""
