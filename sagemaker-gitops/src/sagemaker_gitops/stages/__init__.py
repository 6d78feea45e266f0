"""The deploy side: each stage's desired state (deploy/<stage>.yml), its CloudFormation stacks
(endpoint, batch schedule), the Model Registry, the smoke test and its evidence, promotion by pull
request, and drift between git and what runs."""
