"""{{ project_name }}: the `mlops` CLI and the code behind it."""
