"""green: a model-compression workbench that measures what compression saves in energy.

The public Python API mirrors the CLI (the CLI only parses arguments and calls it):

>>> from green import Workbench
>>> wb = Workbench("green-runs")
>>> record = wb.compress("int8")          # trains the baseline first if needed
"""

__version__ = "0.1.0"

__all__ = ["Workbench", "__version__"]


def __getattr__(name: str):
    # Lazy: `import green` stays light (no torch) until the Workbench is asked for.
    if name == "Workbench":
        from green.workbench import Workbench

        return Workbench
    raise AttributeError(f"module 'green' has no attribute {name!r}")
