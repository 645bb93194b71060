"""Shared pieces of the attribution DAGs: settings, the run's window, and the task operator factory.

Not a DAG itself (listed in .airflowignore); the DAG files import it, the dags folder being on sys.path.

Where values come from (never hard-coded secrets, never an Airflow Variable or Connection read at parse time,
since the DAG processor would hit the metadata database on every parse):

* Parse-time settings come from the Airflow workers' environment (``ATTRIBUTION_*``, README table); they
  shape the DAG itself (runner, schedule, parallelism, shards, volume, pool, notifier).
* Run-time settings come from Airflow Variables, read in templates when a task runs, with the environment
  value as the fallback: image registry/tag, provider, database URL.
* Secrets come from Airflow Connections read when the task runs (``ihc_api``: host = base URL, password =
  key; ``attribution_db``: the PostgreSQL server) and reach the task only through its private environment
  (DockerOperator ``private_environment``, the local process's environment, or a Kubernetes secret): never a
  template field, so never in the rendered-template view, never in the DAG, masked in logs.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
import re
import subprocess
from pathlib import Path
from typing import Any, Mapping, NoReturn, Sequence

# -------------------------------------------------------------------------------------------------------
# Settings
# -------------------------------------------------------------------------------------------------------

#: The steps, each with its own image ``<prefix>-<step>:<tag>`` (docker/Dockerfile target of the same name).
STEPS = ("setup-db", "load", "build-journeys", "send-to-api", "process-attribution", "attribution-api")

#: Where the named volume is mounted in every container; it holds the SQLite file and the outputs.
DATA_MOUNT = "/data"

#: The repository (dags/..): the local runner runs its compiled tasks, dist/tasks/<step>/main.js.
REPO_DIR = Path(__file__).resolve().parent.parent

RUNNERS = ("docker", "kubernetes", "local")

#: Exit codes (README "Exit codes") after which a retry cannot help: the same input fails the same way.
NO_RETRY_EXIT_CODES = {2: "usage error", 3: "configuration error", 4: "input error", 5: "schema error", 8: "check failed"}
#: Exit codes worth retrying with backoff: the database or the provider may be back in a while.
RETRY_EXIT_CODES = {1: "internal error", 6: "database error", 7: "provider error"}

#: The tables the load DAG refreshes: its outlets, and what the pipeline DAG can be scheduled on.
LOADED_TABLES = ("session_sources", "conversions", "session_costs")
SCHEDULES_ON = ("time", "assets", "assets_or_time")


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
    runner: str
    #: where the data lives as the task sees it: the volume's mount point, or a local folder (runner local)
    data_dir: str
    postgres: bool
    max_active_runs: int
    max_active_tasks: int
    shards: int
    schedule_on: str
    notifier: str
    ihc_conn_id: str
    db_conn_id: str
    node: str
    local_dir: str
    k8s_namespace: str
    k8s_secret: str
    k8s_pvc: str | None
    k8s_cpu: str
    k8s_memory: str

    @classmethod
    def from_env(cls) -> "Settings":
        runner = env("ATTRIBUTION_RUNNER", "docker")
        if runner not in RUNNERS:
            raise ValueError(f"ATTRIBUTION_RUNNER={runner!r}: expected one of {', '.join(RUNNERS)}")
        local_dir = env("ATTRIBUTION_LOCAL_DIR", str(REPO_DIR))
        data_dir = env("ATTRIBUTION_LOCAL_DATA_DIR", f"{local_dir}/data") if runner == "local" else DATA_MOUNT
        output_default = f"{local_dir}/output" if runner == "local" else f"{DATA_MOUNT}/output"
        database_url = env("ATTRIBUTION_DATABASE_URL", f"{data_dir}/attribution.db")
        postgres = re.match(r"^postgres(ql)?://", database_url) is not None
        # SQLite has one writer: one run and one task at a time, whatever the settings say.
        max_runs = env_int("ATTRIBUTION_MAX_ACTIVE_RUNS", 4) if postgres else 1
        max_tasks = env_int("ATTRIBUTION_MAX_ACTIVE_TASKS", 8) if postgres else 1
        shards = env_int("ATTRIBUTION_SHARDS", 1)
        if shards < 1 or (shards > 1 and not postgres):
            raise ValueError(
                f"ATTRIBUTION_SHARDS={shards}: expected 1, or more than 1 with a postgres:// ATTRIBUTION_DATABASE_URL "
                "(SQLite takes one writer, so shards would only queue)"
            )
        pool = env("ATTRIBUTION_POOL", "default_pool" if postgres else "attribution_sqlite")
        if not postgres and pool == "default_pool":
            raise ValueError(
                "ATTRIBUTION_POOL=default_pool with SQLite: the load and pipeline DAGs would write at the same time; "
                "use a one-slot pool (make airflow-pool creates attribution_sqlite)"
            )
        schedule_on = env("ATTRIBUTION_SCHEDULE_ON", "time")
        if schedule_on not in SCHEDULES_ON:
            raise ValueError(f"ATTRIBUTION_SCHEDULE_ON={schedule_on!r}: expected one of {', '.join(SCHEDULES_ON)}")
        return cls(
            volume=env("ATTRIBUTION_VOLUME", "attribution-data"),
            image_prefix=env("ATTRIBUTION_IMAGE_PREFIX", "attribution"),
            image_tag=env("ATTRIBUTION_IMAGE_TAG", "latest"),
            database_url=database_url,
            output_dir=env("ATTRIBUTION_OUTPUT_DIR", output_default),
            provider=env("ATTRIBUTION_PROVIDER", "local"),
            start_date=env_date("ATTRIBUTION_START_DATE", "2023-08-29"),
            catchup=env_bool("ATTRIBUTION_CATCHUP", False),
            schedule=env("ATTRIBUTION_SCHEDULE", "@daily"),
            retries=env_int("ATTRIBUTION_RETRIES", 2),
            retry_delay=dt.timedelta(minutes=env_int("ATTRIBUTION_RETRY_DELAY_MINUTES", 5)),
            execution_timeout=dt.timedelta(minutes=env_int("ATTRIBUTION_TIMEOUT_MINUTES", 120)),
            pool=pool,
            docker_url=os.environ.get("ATTRIBUTION_DOCKER_URL") or None,
            docker_conn_id=os.environ.get("ATTRIBUTION_DOCKER_CONN_ID") or None,
            network_mode=os.environ.get("ATTRIBUTION_NETWORK_MODE") or None,
            incoming_dir=env("ATTRIBUTION_INCOMING_DIR", f"{data_dir}/incoming"),
            runner=runner,
            data_dir=data_dir,
            postgres=postgres,
            max_active_runs=max_runs,
            max_active_tasks=max_tasks,
            shards=shards,
            schedule_on=schedule_on,
            notifier=env("ATTRIBUTION_NOTIFIER", "none"),
            ihc_conn_id=env("ATTRIBUTION_IHC_CONN_ID", "ihc_api"),
            db_conn_id=env("ATTRIBUTION_DB_CONN_ID", "attribution_db"),
            node=env("ATTRIBUTION_NODE", "node"),
            local_dir=local_dir,
            k8s_namespace=env("ATTRIBUTION_K8S_NAMESPACE", "default"),
            k8s_secret=env("ATTRIBUTION_K8S_SECRET", "attribution-secrets"),
            k8s_pvc=os.environ.get("ATTRIBUTION_K8S_PVC") or None,
            k8s_cpu=env("ATTRIBUTION_K8S_CPU", "1"),
            k8s_memory=env("ATTRIBUTION_K8S_MEMORY", "2Gi"),
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
    * a run triggered by the load DAG's Assets takes the days its drops covered (the events' extra
      ``start_date``/``end_date``, set by the load run's params), when they say;
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

    covered = [
        (_as_date(extra["start_date"], "start_date"), _as_date(extra["end_date"], "end_date"))
        for event in (_attr(dag_run, "consumed_asset_events") or [])
        for extra in [_attr(event, "extra") or {}]
        if extra.get("start_date") and extra.get("end_date")
    ]
    if covered:
        return Window(min(s for s, _ in covered).isoformat(), max(e for _, e in covered).isoformat())

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
# Secrets, exit codes, notifications, assets
# -------------------------------------------------------------------------------------------------------


def _connection(conn_id: str):
    """The Connection, or None when it is not defined (then the task runs without it)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def _url_host(conn) -> str:
    host = conn.host or ""
    if "://" in host:  # the whole base URL in host, as the README says to store it
        return host.rstrip("/")
    scheme = conn.schema or ("http" if conn.conn_type == "http" else "https")
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{host}{port}" if host else ""


def postgres_url_of(conn) -> str:
    """postgres://user@host:port/db from a Connection, without the password (that goes in PGPASSWORD)."""
    from urllib.parse import quote

    user = f"{quote(conn.login, safe='')}@" if conn.login else ""
    port = f":{conn.port}" if conn.port else ""
    return f"postgres://{user}{conn.host}{port}/{quote(conn.schema or 'attribution', safe='')}"


def run_time_secrets(settings: Settings, step: str) -> dict[str, str]:
    """What the task gets through its private environment, read from Connections when it runs.

    * ``attribution_db`` (every step, when defined): DATABASE_URL without password, and PGPASSWORD;
    * ``ihc_api`` (send-to-api only): IHC_API_KEY = password, IHC_BASE_URL = host (a URL).
    The values are masked in task logs (Connection passwords by Airflow, the rest here).
    """
    from airflow.sdk.log import mask_secret

    out: dict[str, str] = {}
    db = _connection(settings.db_conn_id)
    if db is not None and db.host:
        out["DATABASE_URL"] = postgres_url_of(db)
        if db.password:
            out["PGPASSWORD"] = db.password
    if step == "send-to-api":
        ihc = _connection(settings.ihc_conn_id)
        if ihc is not None:
            if ihc.password:
                out["IHC_API_KEY"] = ihc.password
            base = _url_host(ihc)
            if base:
                out["IHC_BASE_URL"] = base
    for name in ("PGPASSWORD", "IHC_API_KEY"):
        if name in out:
            mask_secret(out[name], name)
    return out


def fail_for_exit_code(task_id: str, code: int, detail: str = "") -> NoReturn:
    """Exit 2, 3, 4, 5, 8 fail the task at once (no retry can help); others raise a retryable error."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    if code in NO_RETRY_EXIT_CODES:
        raise AirflowFailException(
            f"{task_id} exited {code} ({NO_RETRY_EXIT_CODES[code]}): the same input fails the same way, so it is "
            f"not retried; fix the cause (the task log says which) and clear the task.{detail}"
        )
    meaning = RETRY_EXIT_CODES.get(code, "unexpected exit code")
    raise AirflowException(f"{task_id} exited {code} ({meaning}); retried with backoff if tries are left.{detail}")


_STATUS_CODE = re.compile(r"""['"]StatusCode['"]:\s*(-?\d+)""")


def docker_exit_code(error: BaseException) -> int | None:
    """The container's exit code, from the DockerOperator's failure ("Docker container failed: {...}")."""
    m = _STATUS_CODE.search(str(error))
    return int(m.group(1)) if m else None


def loaded_assets() -> list:
    """One Asset per table the load DAG refreshes."""
    from airflow.sdk import Asset

    return [Asset(name=f"attribution.{table}", uri=f"attribution://tables/{table}", group="attribution") for table in LOADED_TABLES]


def _record_outlet_extra(task, context) -> None:
    """The load run's params start_date/end_date (the days the drop covers) go with its Asset events."""
    params = context.get("params") or {}
    extra = {k: params[k] for k in ("start_date", "end_date") if params.get(k)}
    if not extra or not getattr(task, "outlets", None):
        return
    for asset in task.outlets:
        context["outlet_events"][asset].extra = extra


def failure_callback(settings: Settings):
    """The on_failure_callback chosen by ATTRIBUTION_NOTIFIER: none, log, smtp:<to>[,<to>...] or module:callable."""
    spec = settings.notifier
    if spec in ("", "none"):
        return None
    if spec == "log":
        return LogNotifier()
    if spec.startswith("smtp:"):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        to = [a.strip() for a in spec[len("smtp:"):].split(",") if a.strip()]
        if not to:
            raise ValueError("ATTRIBUTION_NOTIFIER=smtp: give the addresses, e.g. smtp:data-team@example.com")
        return SmtpNotifier(
            to=to,
            subject="[attribution] {{ ti.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})",
            html_content=NOTIFICATION_TEXT,
        )
    if ":" in spec:
        import importlib

        module, _, name = spec.partition(":")
        try:
            target = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"ATTRIBUTION_NOTIFIER={spec!r}: cannot import it ({e})") from None
        return target() if isinstance(target, type) else target
    raise ValueError(f"ATTRIBUTION_NOTIFIER={spec!r}: expected none, log, smtp:<addresses> or module:callable")


NOTIFICATION_TEXT = (
    "Task {{ ti.task_id }} of {{ ti.dag_id }} failed in run {{ run_id }} (try {{ ti.try_number }}).<br>"
    "Window: {{ attribution_window(params, dag_run).start }} .. {{ attribution_window(params, dag_run).end }}.<br>"
    "Exit codes 2-5 and 8 are not retried: see the task log for the cause."
)


def _notifier_base():
    from airflow.sdk import BaseNotifier

    return BaseNotifier


class LogNotifier(_notifier_base()):
    """Writes one line per failure to the task log: for a first setup, or a log-based alerting system."""

    template_fields = ()

    def notify(self, context) -> None:
        ti = context["ti"]
        exc = context.get("exception")
        self.log.error(
            "ATTRIBUTION FAILURE dag=%s task=%s run=%s try=%s: %s",
            ti.dag_id,
            ti.task_id,
            context.get("run_id"),
            getattr(ti, "try_number", "?"),
            exc,
        )


# -------------------------------------------------------------------------------------------------------
# Operators: one per runner, the same image/command/environment
# -------------------------------------------------------------------------------------------------------


def base_environment(settings: Settings) -> dict[str, str]:
    """Non-secret environment every task gets."""
    return {
        "DATABASE_URL": var("attribution_database_url", settings.database_url),
        "OUTPUT_DIR": var("attribution_output_dir", settings.output_dir),
        "LOG_FORMAT": "json",
    }


def _docker_operator_class():
    from airflow.providers.docker.exceptions import DockerContainerFailedException
    from airflow.providers.docker.operators.docker import DockerOperator

    class AttributionDockerOperator(DockerOperator):
        """DockerOperator with secrets from Connections in the private environment and the exit-code policy."""

        def __init__(self, *, step: str, settings: Settings, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.step = step
            self.settings = settings

        def execute(self, context):
            self._private_environment = {**(self._private_environment or {}), **run_time_secrets(self.settings, self.step)}
            try:
                result = super().execute(context)
            except DockerContainerFailedException as e:
                code = docker_exit_code(e)
                if code is None:
                    raise
                fail_for_exit_code(self.task_id, code)
            _record_outlet_extra(self, context)
            return result

    return AttributionDockerOperator


def _local_operator_class():
    from airflow.sdk import BaseOperator

    class LocalTaskOperator(BaseOperator):
        """Runs ``node dist/tasks/<step>/main.js <command>`` on the worker: the image's command, without a container engine."""

        template_fields: Sequence[str] = ("command", "environment")
        ui_color = "#e8f4e8"

        def __init__(self, *, step: str, settings: Settings, command: list[str], environment: dict[str, str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.step = step
            self.settings = settings
            self.command = command
            self.environment = environment
            self._proc: subprocess.Popen | None = None

        def argv(self) -> list[str]:
            script = Path(self.settings.local_dir) / "dist" / "tasks" / self.step / "main.js"
            return [self.settings.node, str(script), *self.command]

        def execute(self, context):
            argv = self.argv()
            if not Path(argv[1]).is_file():
                fail_for_exit_code(self.task_id, 3, f" {argv[1]} is missing: run `npm run build` in {self.settings.local_dir}.")
            # the same variables a container gets, plus what node needs to start
            env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
            env.update(self.environment)
            env.update(run_time_secrets(self.settings, self.step))
            self.log.info("running %s", " ".join(argv))
            self._proc = subprocess.Popen(
                argv, cwd=self.settings.local_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                self.log.info("%s", line.rstrip("\n"))
            code = self._proc.wait()
            if code != 0:
                fail_for_exit_code(self.task_id, code)
            _record_outlet_extra(self, context)

        def on_kill(self) -> None:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    return LocalTaskOperator


def _kubernetes_operator_class():
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    class AttributionPodOperator(KubernetesPodOperator):
        """KubernetesPodOperator with the exit-code policy: the task's container exit code decides on retries."""

        def __init__(self, *, step: str, settings: Settings, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.step = step
            self.settings = settings

        def execute(self, context):
            try:
                result = super().execute(context)
            except Exception as e:
                # remote_pod: the pod as the API server last reported it (its container statuses)
                pod = getattr(self, "remote_pod", None) or getattr(self, "pod", None)
                code = pod_exit_code(pod, self.base_container_name)
                if code is None or code == 0:
                    raise
                fail_for_exit_code(self.task_id, code, f" ({e})")
            _record_outlet_extra(self, context)
            return result

    return AttributionPodOperator


def pod_exit_code(pod, container: str) -> int | None:
    """The exit code of the pod's task container, when it terminated."""
    statuses = getattr(getattr(pod, "status", None), "container_statuses", None) or []
    for status in statuses:
        terminated = getattr(getattr(status, "state", None), "terminated", None)
        if status.name == container and terminated is not None:
            return int(terminated.exit_code)
    return None


def _kubernetes_kwargs(step: str, settings: Settings, environment: dict[str, str]) -> dict[str, Any]:
    from kubernetes.client import models as k8s

    kwargs: dict[str, Any] = {
        "namespace": settings.k8s_namespace,
        "name": f"attribution-{step}",
        "env_vars": environment,
        # secrets (PGPASSWORD, IHC_API_KEY, IHC_BASE_URL, ...) from a Kubernetes secret, never from the DAG
        "env_from": [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.k8s_secret, optional=True))],
        "container_resources": k8s.V1ResourceRequirements(
            requests={"cpu": settings.k8s_cpu, "memory": settings.k8s_memory},
            limits={"memory": settings.k8s_memory},
        ),
        "get_logs": True,
        "on_finish_action": "delete_succeeded_pod",
        "image_pull_policy": "IfNotPresent",
    }
    if settings.k8s_pvc:
        kwargs["volumes"] = [
            k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=settings.k8s_pvc))
        ]
        kwargs["volume_mounts"] = [k8s.V1VolumeMount(name="data", mount_path=DATA_MOUNT)]
    return kwargs


def task_operator(
    task_id: str,
    step: str,
    command: list[str],
    settings: Settings,
    *,
    shard_commands: list[list[str]] | None = None,
    **kwargs: Any,
):
    """The operator running ``step`` with ``command`` (the arguments of ``node dist/tasks/<step>/main.js``).

    ``ATTRIBUTION_RUNNER`` picks DockerOperator (the step's image), KubernetesPodOperator (the same image in a
    pod) or a local node process. ``shard_commands`` maps the task over those commands (dynamic task mapping).
    """
    environment = base_environment(settings)
    common: dict[str, Any] = dict(
        task_id=task_id,
        step=step,
        settings=settings,
        retries=settings.retries,
        retry_delay=settings.retry_delay,
        retry_exponential_backoff=2.0,  # 5 min, 10 min, ... between retries
        execution_timeout=settings.execution_timeout,
        pool=settings.pool,
        on_failure_callback=failure_callback(settings),
        **kwargs,
    )
    if settings.runner == "docker":
        from docker.types import Mount

        cls = _docker_operator_class()
        field = "command"
        common.update(
            image=image_template(step, settings),
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
        )
    elif settings.runner == "kubernetes":
        cls = _kubernetes_operator_class()
        field = "arguments"
        common.update(image=image_template(step, settings), **_kubernetes_kwargs(step, settings, environment))
    else:
        cls = _local_operator_class()
        field = "command"
        common.update(environment=environment)
    if shard_commands is not None:
        return cls.partial(**common).expand(**{field: shard_commands})
    return cls(**common, **{field: command})


def setup_db_operator(settings: Settings):
    """The first task of every DAG: both write to the same database, so both make sure it is migrated."""
    return task_operator(
        "setup_db",
        "setup-db",
        [],
        settings,
        doc_md="Create or migrate the database and check its schema; idempotent.",
    )


def dag_limits(settings: Settings) -> dict[str, Any]:
    """Runs and tasks at once: one of each on SQLite (one writer), ATTRIBUTION_MAX_ACTIVE_* on PostgreSQL."""
    return {"max_active_runs": settings.max_active_runs, "max_active_tasks": settings.max_active_tasks}
