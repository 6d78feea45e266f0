"""The one way a file of the project is validated: a pydantic model that refuses unknown keys,
read from YAML, and a failure said in one line naming the file, the field and the rule; and the
rules several files share (an instance type, an EventBridge Scheduler schedule)."""

import re
from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .errors import MlopsError

INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


def load_validated(path: Path, model: type[Model]) -> Model:
    """Read a YAML file into a pydantic model; MlopsError naming the file, field and rule."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MlopsError(f"{path}: not found") from None
    except yaml.YAMLError as error:
        raise MlopsError(f"{path}: not valid YAML ({error.problem})") from None
    return validated(raw, model, where=str(path))


def validated(raw: object, model: type[Model], where: str) -> Model:
    """`raw` as a pydantic model; MlopsError naming `where`, the field and the rule."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise MlopsError(f"{where}: {field}: {message}") from None


RATE = re.compile(r"^rate\((\d+) (minute|hour|day)(s?)\)$")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# EventBridge Scheduler's cron fields: name, range, names for 1.., and the special forms each takes
# (its "Cron expressions" reference); the service refuses a value out of range at create time.
CRON_FIELDS = (
    ("minutes", 0, 59, (), ""),
    ("hours", 0, 23, (), ""),
    ("day-of-month", 1, 31, (), "?LW"),
    ("month", 1, 12, MONTHS, ""),
    ("day-of-week", 1, 7, DAYS, "?L#"),
    ("year", 1970, 2199, (), ""),
)


def check_schedule(expression: str) -> str:
    """An EventBridge Scheduler expression, checked as the service checks it: rate(N unit), with
    the unit singular for 1 only, or cron(...) with its six fields, one of day-of-month and
    day-of-week being "?"."""
    rate = RATE.match(expression)
    if rate:
        value, plural = int(rate.group(1)), rate.group(3) == "s"
        if value < 1 or plural != (value > 1):
            raise ValueError(
                f"{expression!r}: a whole number from 1, the unit singular for 1 only: rate(2 days)"
            )
        return expression
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != 6:
            raise ValueError(
                f"{expression!r}: cron takes six fields, minutes hours day-of-month month day-of-week"
                " year, such as cron(0 6 * * ? *)"
            )
        if (fields[2] == "?") == (fields[4] == "?"):
            raise ValueError(f"{expression!r}: one of day-of-month and day-of-week must be ?, not both")
        for text, field in zip(fields, CRON_FIELDS, strict=True):
            problem = _cron_field_problem(text, *field)
            if problem:
                raise ValueError(f"{expression!r}: {problem}")
        return expression
    raise ValueError(f"{expression!r}: use rate(1 day) or cron(0 6 * * ? *), as EventBridge Scheduler does")


def _cron_field_problem(text: str, name: str, low: int, high: int, names: tuple, special: str) -> str:
    """What is wrong with one cron field, or "": lists, ranges and steps of values in range."""
    if text == "?" and "?" in special:
        return ""
    for part in text.split(","):
        values, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return f"{name} step {step!r} is not a whole number from 1"
        if values == "*" or (values in {"L", "LW"} and "L" in special):
            continue
        if "#" in values and "#" in special:  # the nth weekday of the month: 2#1
            values, _, nth = values.partition("#")
            if nth not in {"1", "2", "3", "4", "5"}:
                return f"{name} {part!r}: the week after # is 1 to 5"
        elif values[-1:] in {"L", "W"} and values[-1] in special:  # 15W, 5L
            values = values[:-1]
        for value in values.split("-", 1):
            number = names.index(value.upper()) + 1 if value.upper() in names else value
            if not str(number).isdigit() or not low <= int(number) <= high:
                named = f" or {names[0]}-{names[-1]}" if names else ""
                return f"{name} {value!r} is not in {low}-{high}{named}"
    return ""


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone name, such as UTC or Europe/Paris") from None
    return name


class Schedule(StrictModel):
    """When EventBridge Scheduler starts a pipeline: a stage's batch scoring (deploy/batch.yml) or
    retraining (build/retraining.yml)."""

    expression: Annotated[str, AfterValidator(check_schedule)]
    timezone: Annotated[str, AfterValidator(check_timezone)] = "UTC"
    # false: the schedule exists but starts nothing; `mlops schedule fire` fires it by hand.
    enabled: bool = True


class ScheduledRuns(StrictModel):
    """A schedule that starts a pipeline and what it gives each run: build/config.yml's `retraining`
    (build/retraining.yml) and build/notebooks.yml's `scheduled_runs` (build/notebook_schedule.yml),
    deployed by `mlops pipeline upsert`."""

    schedule: Schedule
    # What each scheduled run is given over the definition's defaults, such as InputDataUrl for the
    # newest data: only parameters the schedule's template sends.
    parameters: dict[str, str | int | float] = Field(default_factory=dict)
