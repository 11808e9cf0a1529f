"""Generated evaluators (by `python -m codegen regenerate`); no logic lives here."""
