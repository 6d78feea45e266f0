"""The project the CLI works on: where its files are, and the names it gives its AWS resources.

A project is the folder whose pyproject.toml has a [tool.mlops] table (the nearest one at or
above the working directory). The table is written by the template and owned by the team:

    [tool.mlops]
    slug = "my-model"                        # prefixes bucket, pipeline, stack and endpoint names
    model-package-group = "my-model-models"  # the Model Registry group versions are registered in
    region = "us-east-1"                     # where the pipeline and the endpoints run
    github-repository = "your-org/my-model"  # the repository the OIDC roles trust
    # The project's files, relative to pyproject.toml (the defaults shown).
    config = "build/config.yml"
    pipeline = "build/pipeline.py"
    batch-pipeline = "build/batch_pipeline.py"  # scores in batch when the file exists
    notebook-pipeline = "build/notebook_pipeline.py"  # runs notebooks when the file exists
    monitor-pipeline = "build/monitor_pipeline.py"  # monitors the endpoints when the file exists
    notebooks = "build/notebooks.yml"  # which notebooks it runs, with what
    steps = "build/steps"
    snapshot = "tests/snapshots/pipeline-definition.json"
    # Optional: what images of the project's own ship, as the package's image_packages.json lists
    # SageMaker's (`mlops pipeline validate` reads both; the project's list wins for an image).
    image-packages = "build/image_packages.json"
"""

import importlib.util
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ConfigDict

from .definition.step_code import data_key
from .errors import MlopsError
from .validation import StrictModel, validated

PYPROJECT = "pyproject.toml"
PIPELINE_KINDS = ("build", "batch", "notebooks", "monitor")


class Settings(StrictModel):
    """[tool.mlops], checked on load (a misspelt key is an error)."""

    model_config = ConfigDict(alias_generator=lambda name: name.replace("_", "-"), populate_by_name=True)

    slug: str
    model_package_group: str
    region: str
    github_repository: str
    config: Path = Path("build/config.yml")
    pipeline: Path = Path("build/pipeline.py")
    batch_pipeline: Path = Path("build/batch_pipeline.py")
    notebook_pipeline: Path = Path("build/notebook_pipeline.py")
    monitor_pipeline: Path = Path("build/monitor_pipeline.py")
    notebooks: Path = Path("build/notebooks.yml")
    steps: Path = Path("build/steps")
    snapshot: Path = Path("tests/snapshots/pipeline-definition.json")
    # What the project's own images ship, in image_packages.json's format, for `validate`.
    image_packages: Path | None = None


@dataclass(frozen=True)
class Project:
    """A project's folders and names, from its [tool.mlops] settings."""

    root: Path
    settings: Settings

    def but(self, root: Path | None = None, **settings: object) -> "Project":
        """This project moved to `root` or with some settings changed (a test's variation, say)."""
        return replace(self, root=root or self.root, settings=self.settings.model_copy(update=settings))

    @property
    def slug(self) -> str:
        return self.settings.slug

    @property
    def model_package_group(self) -> str:
        return self.settings.model_package_group

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def github_repository(self) -> str:
        return self.settings.github_repository

    @property
    def pipeline_name(self) -> str:
        return self.settings.slug

    @property
    def pipelines(self) -> tuple[str, ...]:
        """The project's pipelines: "build", then "batch", "notebooks" and "monitor" when their files
        exist."""
        return tuple(kind for kind in PIPELINE_KINDS if self.pipeline_file_of(kind).is_file())

    def pipeline_name_of(self, kind: str) -> str:
        """The SageMaker name of the "build" (training), "batch" (scoring), "notebooks" or "monitor"
        pipeline."""
        return self.pipeline_name if kind == "build" else f"{self.slug}-{kind}"

    def pipeline_file_of(self, kind: str) -> Path:
        setting = {
            "build": "pipeline",
            "batch": "batch_pipeline",
            "notebooks": "notebook_pipeline",
            "monitor": "monitor_pipeline",
        }[kind]
        return self.root / getattr(self.settings, setting)

    def sample_file_of(self, kind: str) -> Path:
        """The pipeline's default input: data/sample.csv (training, notebooks), data/batch/sample.csv
        (scoring, in a folder of its own: every CSV directly in data/ is training data)."""
        return self.root / "data" / ("batch/sample.csv" if kind == "batch" else "sample.csv")

    def sample_data_key_of(self, kind: str) -> str:
        """Where `upsert` puts sample_file_of(kind): under its content's hash, so that the URL a run
        reads names the data (a changed sample is a new URL)."""
        return data_key(self.settings.slug, self.sample_file_of(kind))

    @property
    def kept_models_key(self) -> str:
        """Where Evaluate keeps each model it scored, as <sha256>/model.tar.gz: what a version is
        registered with. infra/bootstrap.yml makes it write-once, as it does <slug>/code/."""
        return f"{self.settings.slug}/models"

    @property
    def kept_splits_key(self) -> str:
        """Where Preprocess keeps the splits it makes, as <sha256>/<split>/: what the later steps read,
        so that they are cached exactly when the data is the same."""
        return f"{self.settings.slug}/data/splits"

    @property
    def experiment_name(self) -> str:
        return self.settings.slug

    @property
    def sample_data_key(self) -> str:
        """Where `upsert` puts data/sample.csv: the pipeline's default InputDataUrl."""
        return self.sample_data_key_of("build")

    @property
    def config_path(self) -> Path:
        return self.root / self.settings.config

    @property
    def notebook_jobs_prefix(self) -> str:
        """Where the notebook pipeline's jobs keep their outputs, in the project's bucket."""
        return f"{self.settings.slug}/notebook-jobs"

    @property
    def notebooks_path(self) -> Path:
        return self.root / self.settings.notebooks

    @property
    def pipeline_file(self) -> Path:
        return self.root / self.settings.pipeline

    @property
    def steps_dir(self) -> Path:
        return self.root / self.settings.steps

    @property
    def image_packages_path(self) -> Path | None:
        return self.root / self.settings.image_packages if self.settings.image_packages else None

    @property
    def snapshot_path(self) -> Path:
        """The reviewed, normalised pipeline definition the project's tests compare against."""
        return self.root / self.settings.snapshot


_current: Project | None = None
# What the template's hooks/update_started.py writes before a `copier update` changes anything,
# and its post-update task removes once uv.lock and the snapshot are refreshed: the release the
# update moves to. While it is there, the project claims a release it does not have yet.
UNFINISHED_UPDATE = ".copier-update-unfinished"


def project() -> Project:
    """The project at or above the working directory, read once per process."""
    global _current
    if _current is None:
        _current = find(Path.cwd().resolve())
    return _current


def unfinished_update() -> str:
    """The release a stopped `copier update` of this project moves to; "" when none is (or when
    there is no project here, which the verb itself will say)."""
    try:
        marker = project().root / UNFINISHED_UPDATE
    except MlopsError:
        return ""
    return marker.read_text().strip() if marker.is_file() else ""


def refuse_an_unfinished_update() -> None:
    """MlopsError while a `copier update` is unfinished: every verb but the one that finishes it."""
    release = unfinished_update()
    if release:
        raise MlopsError(
            f"copier update to {release} did not finish (uv.lock and the pipeline snapshot were not"
            " refreshed): run `make setup snapshot` (after `make conflicts` passes), or undo it with"
            " `git reset --hard && git clean -fd`"
        )


def finish_update() -> str:
    """Mark a stopped `copier update` finished (its snapshot is written); the release it moved to."""
    release = unfinished_update()
    if release:
        (project().root / UNFINISHED_UPDATE).unlink(missing_ok=True)
    return release


def find(here: Path) -> Project:
    """The project whose pyproject.toml, the nearest at or above `here`, has a [tool.mlops] table."""
    for folder in (here, *here.parents):
        path = folder / PYPROJECT
        if not path.is_file():
            continue
        text = path.read_text()
        try:
            table = tomllib.loads(text).get("tool", {}).get("mlops")
        except tomllib.TOMLDecodeError as error:
            if "[tool.mlops]" not in text:
                continue  # another tool's file, broken: not ours to report
            raise MlopsError(f"{path}: cannot be read ({error})") from None
        if table is not None:
            return Project(folder, validated(table, Settings, where=f"{path} [tool.mlops]"))
    raise MlopsError(f"no project here: no pyproject.toml with a [tool.mlops] table at or above {here}")


def load_step(name: str):
    """Import build/steps/<name>.py as a module (the steps are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"step_{name}", project().steps_dir / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
