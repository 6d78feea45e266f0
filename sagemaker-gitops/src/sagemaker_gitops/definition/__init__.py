"""What a pipeline definition is, whoever runs it: its graph of steps and their expressions, the
kinds of step (one registry: step_kinds.py), the code and data it references (staged by content),
the checks of each request against SageMaker's API, and what changed between two definitions."""
