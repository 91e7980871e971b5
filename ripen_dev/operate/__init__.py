"""Operator commands: work on a deployed stack (or the running `ripen dev`) with the functions' own code."""
