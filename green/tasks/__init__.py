"""Tasks: what a model is trained and judged on. Importing this package registers the built-in ones.

Adding a task is one module here that subclasses :class:`Task` and calls :func:`register_task`.
"""

from green.tasks import classification, summarization, token_classification  # noqa: E402,F401  (registration side effect)
from green.tasks.base import TASKS, DataSpec, Split, Task, TaskData, get_task, register_task

DEFAULT_TASK = "text-classification"

__all__ = ["TASKS", "DEFAULT_TASK", "DataSpec", "Split", "Task", "TaskData", "get_task", "register_task"]
