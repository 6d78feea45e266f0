"""A notebook job step whose files are on S3 under a content hash, uploaded by `mlops pipeline upsert`.

SDK v3's NotebookJobStep uploads the notebook, its dependencies and its init script while the
definition is *built*, under a timestamped prefix (`<root>/<pipeline>/<step>/input-<timestamp>`):
building needs AWS, and no two builds give the same definition, which breaks the reviewed snapshot
and step caching. This step hands the files to the project's StepCode instead, and its input
channel names their content-hashed folder, which `publish` uploads with the step code. (The
notebook job's name, timestamped by default, is the step's.)
"""

from pathlib import Path

from sagemaker.mlops.workflow.notebook_job_step import NotebookJobStep

from .step_code import StepCode


class StagedNotebookJobStep(NotebookJobStep):
    """NotebookJobStep(name=..., ..., code=StepCode): the same request, its input folder named by
    content, and its notebook job named after the step (the SDK's default name is timestamped)."""

    def __init__(self, *args, code: StepCode, **kwargs):
        kwargs.setdefault("notebook_job_name", kwargs.get("name"))
        super().__init__(*args, **kwargs)
        self.code = code
        self.staged = ""

    def _upload_job_files(self, s3_base_uri, paths_to_upload, kms_key, sagemaker_session):
        # Called by `arguments` before it writes the request: stage instead of uploading.
        self.staged = self.code.folder([Path(path) for path in paths_to_upload])

    @property
    def arguments(self) -> dict:
        request = super().arguments
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = self.staged
        return request
