"""A SageMaker notebook job's driver, run locally in the notebook environment of its image.

    <notebook env>/bin/python notebook_host.py

Follows sagemaker-headless-execution-driver 0.0.13 (notebookrunner.py, headless_execution.sh), the
driver the SageMaker Distribution image runs for a notebook job: the notebook named by
SM_INPUT_NOTEBOOK_NAME in SM_EXECUTION_INPUT_PATH (the input channel's folder, also the working
directory, so `%run helper.ipynb` finds its file), executed by papermill with the kernel
SM_KERNEL_NAME and the training job's hyperparameters.json as its parameters (strings, as there),
into SM_OUTPUT_NOTEBOOK_NAME (dots and colons made dashes) under TRAINING_OUTPUT_PATH. A failing
cell writes one line to TRAINING_FAILURE_PATH, naming the cell and its error, and exits 1.

Runs on the notebook environment's Python, with the standard library and papermill only.
"""

import json
import os
import re
import sys
from pathlib import Path


def output_name(name: str) -> str:
    """The driver's rewrite of the output notebook's name (sed 's|\\.|-|g; s|:|-|g; s|-*ipynb$|.ipynb|')."""
    return re.sub(r"-*ipynb$", ".ipynb", name.replace(".", "-").replace(":", "-"))


def main() -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    folder = Path(os.environ["SM_EXECUTION_INPUT_PATH"])
    notebook = folder / os.environ["SM_INPUT_NOTEBOOK_NAME"]
    output = Path(os.environ["TRAINING_OUTPUT_PATH"]) / output_name(os.environ["SM_OUTPUT_NOTEBOOK_NAME"])
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = json.loads(Path(os.environ["SM_PAPERMILL_PARAMS_PATH"]).read_text())
    os.chdir(folder)
    try:
        papermill.execute_notebook(
            notebook.name, str(output), parameters=parameters, kernel_name=os.environ["SM_KERNEL_NAME"]
        )
    except PapermillExecutionError as error:
        fail(f"{notebook.name}, cell [{error.exec_count}]: {error.ename}: {error.evalue}")
    except Exception as error:
        fail(f"{notebook.name}: {type(error).__name__}: {error}")


def fail(reason: str) -> None:
    Path(os.environ["TRAINING_FAILURE_PATH"]).write_text(" ".join(reason.split()))
    print(reason, file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
