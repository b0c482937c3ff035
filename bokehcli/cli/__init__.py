"""The `bokeh` command line: thin Typer functions that parse, call the library, and report."""

from ..threads import prefer_passive_wait

# Before any command module imports torch: OpenMP reads its wait policy once, when torch loads it.
prefer_passive_wait()
