"""Built-in recipe YAML files (package data). The schema and loader live in ``green.recipe``."""
