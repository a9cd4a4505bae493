"""`python -m generator` runs the sitegen CLI."""

from generator.cli import run

run()
