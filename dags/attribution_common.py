"""Shared pieces of the attribution DAGs: settings, the run's window, and the task operator factory.

Not a DAG itself (listed in .airflowignore); the DAG files import it, the dags folder being on sys.path.

Where values come from (never hard-coded secrets, never an Airflow Variable read at parse time, since the
DAG processor would hit the metadata database on every parse):

* Parse-time settings come from the Airflow workers' environment (``ATTRIBUTION_*``, table below); they
  shape the DAG itself (schedule, catchup, start date, volume, pool, docker connection).
* Run-time settings come from Airflow Variables, read in templates when a task runs, with the environment
  value as the fallback: image registry/tag, provider, database URL, the IHC key.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Mapping

# -------------------------------------------------------------------------------------------------------
# Settings
# -------------------------------------------------------------------------------------------------------

#: The steps, each with its own image ``<prefix>-<step>:<tag>`` (docker/Dockerfile target of the same name).
STEPS = ("setup-db", "load", "build-journeys", "send-to-api", "process-attribution", "attribution-api")

#: Where the named volume is mounted in every container; it holds the SQLite file and the outputs.
DATA_MOUNT = "/data"


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r}: expected true or false")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected an integer") from None


def env_date(name: str, default: str) -> dt.datetime:
    raw = env(name, default)
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a date YYYY-MM-DD") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Settings:
    """Parse-time settings, read once per DAG file parse from the environment."""

    volume: str
    image_prefix: str
    image_tag: str
    database_url: str
    output_dir: str
    provider: str
    start_date: dt.datetime
    catchup: bool
    schedule: str
    retries: int
    retry_delay: dt.timedelta
    execution_timeout: dt.timedelta
    pool: str
    docker_url: str | None
    docker_conn_id: str | None
    network_mode: str | None
    incoming_dir: str

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            volume=env("ATTRIBUTION_VOLUME", "attribution-data"),
            image_prefix=env("ATTRIBUTION_IMAGE_PREFIX", "attribution"),
            image_tag=env("ATTRIBUTION_IMAGE_TAG", "latest"),
            database_url=env("ATTRIBUTION_DATABASE_URL", f"{DATA_MOUNT}/attribution.db"),
            output_dir=env("ATTRIBUTION_OUTPUT_DIR", f"{DATA_MOUNT}/output"),
            provider=env("ATTRIBUTION_PROVIDER", "local"),
            start_date=env_date("ATTRIBUTION_START_DATE", "2023-08-29"),
            catchup=env_bool("ATTRIBUTION_CATCHUP", False),
            schedule=env("ATTRIBUTION_SCHEDULE", "@daily"),
            retries=env_int("ATTRIBUTION_RETRIES", 2),
            retry_delay=dt.timedelta(minutes=env_int("ATTRIBUTION_RETRY_DELAY_MINUTES", 5)),
            execution_timeout=dt.timedelta(minutes=env_int("ATTRIBUTION_TIMEOUT_MINUTES", 120)),
            pool=env("ATTRIBUTION_POOL", "default_pool"),
            docker_url=os.environ.get("ATTRIBUTION_DOCKER_URL") or None,
            docker_conn_id=os.environ.get("ATTRIBUTION_DOCKER_CONN_ID") or None,
            network_mode=os.environ.get("ATTRIBUTION_NETWORK_MODE") or None,
            incoming_dir=env("ATTRIBUTION_INCOMING_DIR", f"{DATA_MOUNT}/incoming"),
        )


def var(name: str, default: str) -> str:
    """A template reading Airflow Variable ``name`` when the task runs, ``default`` when it is not set."""
    return "{{ var.value.get(%r, %r) }}" % (name, default)


def image_template(step: str, settings: Settings) -> str:
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
    prefix = var("attribution_image_prefix", settings.image_prefix)
    tag = var("attribution_image_tag", settings.image_tag)
    # The server's image is <prefix>-api (attribution-api, not attribution-attribution-api).
    return f"{prefix}-{step.removeprefix('attribution-')}:{tag}"


# -------------------------------------------------------------------------------------------------------
# The run's window
# -------------------------------------------------------------------------------------------------------


class WindowError(ValueError):
    """A manual run's start/end params that cannot make a window."""


@dataclass(frozen=True)
class Window:
    """Inclusive day window, as the tasks take it (``--start-date`` .. ``--end-date``)."""

    start: str
    end: str


def _as_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise WindowError(f"{what}={value!r}: expected a date YYYY-MM-DD")


def _attr(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def run_window(params: Mapping[str, Any] | None, dag_run: Any) -> Window:
    """The inclusive window a run works on.

    * ``start_date``/``end_date`` params (manual runs, both or neither) win, after validation;
    * otherwise the run's data interval [start, end): the tasks get start .. end - 1 day, since a daily
      interval 2023-09-01T00:00 .. 2023-09-02T00:00 means the single day 2023-09-01;
    * a manual run without a logical date has no data interval in Airflow 3: it takes the last complete
      day before it was triggered (what the daily timetable would infer).
    """
    params = params or {}
    start_p, end_p = params.get("start_date"), params.get("end_date")
    if start_p or end_p:
        if not (start_p and end_p):
            raise WindowError("give both start_date and end_date, or neither (the run's data interval is used)")
        start, end = _as_date(start_p, "start_date"), _as_date(end_p, "end_date")
        if start > end:
            raise WindowError(f"start_date {start} is after end_date {end}")
        return Window(start.isoformat(), end.isoformat())

    interval_start = _attr(dag_run, "data_interval_start")
    interval_end = _attr(dag_run, "data_interval_end")
    if interval_start is not None and interval_end is not None:
        start = _as_date(_utc(interval_start), "data_interval_start")
        end_exclusive = _utc(interval_end)
        # The end is exclusive: an interval ending at midnight does not include that day.
        end = end_exclusive.date() if end_exclusive.time() != dt.time(0) else end_exclusive.date() - dt.timedelta(days=1)
        if end < start:
            raise WindowError(f"empty data interval {interval_start} .. {interval_end}")
        return Window(start.isoformat(), end.isoformat())

    run_after = _attr(dag_run, "run_after")
    if run_after is None:
        raise WindowError("the run has neither start_date/end_date params nor a data interval")
    day = _utc(run_after).date() - dt.timedelta(days=1)
    return Window(day.isoformat(), day.isoformat())


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise WindowError(f"{value!r}: expected a timestamp")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


#: Templates for the window edges; ``attribution_window`` is registered as a user-defined macro.
START_DATE = "{{ attribution_window(params, dag_run).start }}"
END_DATE = "{{ attribution_window(params, dag_run).end }}"
WINDOW_ARGS = ["--start-date", START_DATE, "--end-date", END_DATE]

USER_DEFINED_MACROS = {"attribution_window": run_window}


def window_params() -> dict[str, Any]:
    from airflow.sdk import Param

    date_schema: dict[str, Any] = {
        "type": ["null", "string"],
        "format": "date",
        "pattern": r"^\d{4}-\d{2}-\d{2}$",
    }
    return {
        "start_date": Param(
            None,
            title="Start date (inclusive)",
            description="First day to process, YYYY-MM-DD. Leave both dates empty to use the run's data interval.",
            **date_schema,
        ),
        "end_date": Param(
            None,
            title="End date (inclusive)",
            description="Last day to process, YYYY-MM-DD (inclusive). Give it together with the start date.",
            **date_schema,
        ),
    }


# -------------------------------------------------------------------------------------------------------
# Operators
# -------------------------------------------------------------------------------------------------------


def base_environment(settings: Settings) -> dict[str, str]:
    """Non-secret environment every task container gets."""
    return {
        "DATABASE_URL": var("attribution_database_url", settings.database_url),
        "OUTPUT_DIR": var("attribution_output_dir", settings.output_dir),
        "LOG_FORMAT": "json",
    }


def task_operator(
    task_id: str,
    step: str,
    command: list[str],
    settings: Settings,
    *,
    secret_environment: Mapping[str, str] | None = None,
    **kwargs: Any,
):
    """A DockerOperator running ``step``'s image with ``command`` as arguments to its ENTRYPOINT."""
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.types import Mount

    environment = base_environment(settings)
    # Secrets travel as templated Variables (masked in logs and the UI since their names say "key"),
    # rendered only when the task runs, never stored in the DAG or an image.
    environment.update(secret_environment or {})
    return DockerOperator(
        task_id=task_id,
        image=image_template(step, settings),
        command=command,
        environment=environment,
        mounts=[Mount(source=settings.volume, target=DATA_MOUNT, type="volume")],
        # No host temp dir bind-mount: the tasks write only to the volume, and a remote engine has no such dir.
        mount_tmp_dir=False,
        auto_remove="success",
        force_pull=False,
        docker_url=settings.docker_url,
        docker_conn_id=settings.docker_conn_id,
        network_mode=settings.network_mode,
        tty=False,
        retries=settings.retries,
        retry_delay=settings.retry_delay,
        retry_exponential_backoff=2.0,  # 5 min, 10 min, ... between retries
        execution_timeout=settings.execution_timeout,
        pool=settings.pool,
        **kwargs,
    )


def setup_db_operator(settings: Settings):
    """The first task of every DAG: both write to the same database, so both make sure it is migrated."""
    return task_operator(
        "setup_db",
        "setup-db",
        [],
        settings,
        doc_md="Create or migrate the database and check its schema; idempotent.",
    )
