"""The build side: the project's pipelines built from build/ (offline, the same twice), their step
code and data staged by content, upserted and started in SageMaker, the steps the platform adds
(tuning, batch scoring, notebook jobs) and the schedules that start them."""
