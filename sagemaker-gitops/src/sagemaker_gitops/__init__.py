"""sagemaker-gitops: the platform a generated project depends on, the `mlops` CLI and the code
behind it (README.md says which module holds what)."""
