"""The `bokeh` command line: thin Typer functions that parse, call the library, and report."""
