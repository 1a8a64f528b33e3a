"""green: a model-compression workbench that measures what compression saves in energy.

The public Python API mirrors the CLI (the CLI only parses arguments and calls it):

>>> from green.workbench import Workbench
>>> wb = Workbench("green-runs")
>>> record = wb.compress("int8")          # trains the baseline first if needed
"""

__version__ = "0.1.0"
