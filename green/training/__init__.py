"""Training: one loop with a pluggable loss and a budget, used by the baseline and by every step that trains."""

from green.budget import BUDGETS, CPU_DEFAULT, GPU_DEFAULT, QUICK, TrainBudget, choose_budget
from green.training.loop import FitResult, LossFn, TaskLoss, fit

__all__ = ["BUDGETS", "CPU_DEFAULT", "GPU_DEFAULT", "QUICK", "FitResult", "LossFn", "TaskLoss", "TrainBudget",
           "choose_budget", "fit"]
