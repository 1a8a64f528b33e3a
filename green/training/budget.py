"""Training budgets live in the leaf module :mod:`green.budget` (tasks choose them; training spends them)."""

from green.budget import BUDGETS, CPU_DEFAULT, GPU_DEFAULT, QUICK, TrainBudget, choose_budget  # noqa: F401
