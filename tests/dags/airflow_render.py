"""Render the attribution DAGs' tasks the way an Airflow 3 worker does, without a scheduler or database.

The DAGs are parsed by Airflow's own DagBag; a DagRun is described with the Execution API's own data model
(what the API server sends a worker), wrapped in the Task SDK's RuntimeTaskInstance, whose
``get_template_context()`` builds the real template context (params merged with the run's conf and validated,
``dag_run``, ``var``, ...); the operator then renders its template fields with the DAG's Jinja environment
and user-defined macros. This is the path ``airflow tasks render`` takes, minus the metadata database.

Scheduled data intervals come from the scheduler's own timetable (the DAG serialised and read back, as the
scheduler sees it), so window edges are Airflow's, not ours.

Variables: with no task supervisor, Airflow's Variable lookup reads only ``AIRFLOW_VAR_<NAME>`` from the
environment (then the template's default), which is how the tests set them.

CLI (used by tests/containers/e2e.sh to get the exact commands to run):

    python tests/dags/airflow_render.py --dag attribution_pipeline --conf '{"start_date": "...", ...}'
    python tests/dags/airflow_render.py --dag attribution_pipeline --interval-start 2023-09-01
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"

UTC = dt.timezone.utc


def load_dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False)


def get_dag(dag_id: str):
    bag = load_dagbag()
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]


def scheduler_timetable(dag):
    """The timetable as the scheduler runs it (the SDK DAG serialised and read back)."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable


def scheduled_interval(dag, earliest: dt.datetime):
    """The first data interval the scheduler would create at or after ``earliest``, and its run_after."""
    from airflow.timetables.base import TimeRestriction

    info = scheduler_timetable(dag).next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
    )
    if info is None:
        raise RuntimeError(f"{dag.dag_id}: the timetable schedules nothing after {earliest}")
    return info


def make_dag_run(
    dag,
    *,
    run_type: str,
    logical_date: dt.datetime | None,
    data_interval: tuple[dt.datetime, dt.datetime] | None,
    run_after: dt.datetime,
    conf: dict[str, Any] | None = None,
):
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import DagRun

    return DagRun(
        dag_id=dag.dag_id,
        run_id=f"{run_type}__{(logical_date or run_after).isoformat()}",
        logical_date=logical_date,
        data_interval_start=data_interval[0] if data_interval else None,
        data_interval_end=data_interval[1] if data_interval else None,
        run_after=run_after,
        start_date=run_after,
        end_date=None,
        clear_number=0,
        run_type=run_type,
        state="running",
        conf=conf or {},
        consumed_asset_events=[],
        partition_key=None,
    )


def scheduled_run(dag, interval_start: dt.datetime):
    info = scheduled_interval(dag, interval_start)
    start, end = info.data_interval.start, info.data_interval.end
    return make_dag_run(
        dag, run_type="scheduled", logical_date=start, data_interval=(start, end), run_after=info.run_after
    )


def manual_run(dag, conf: dict[str, Any] | None, run_after: dt.datetime | None = None, with_logical_date=False):
    """A manual trigger; Airflow 3 manual runs have no logical date (nor data interval) unless one is given."""
    run_after = run_after or dt.datetime.now(UTC)
    interval = None
    logical_date = None
    if with_logical_date:
        iv = scheduler_timetable(dag).infer_manual_data_interval(run_after=run_after)
        interval, logical_date = (iv.start, iv.end), iv.start
    return make_dag_run(
        dag, run_type="manual", logical_date=logical_date, data_interval=interval, run_after=run_after, conf=conf
    )


def render_task(dag, task_id: str, dag_run, map_index: int = -1):
    """Render one task's template fields for ``dag_run``; returns the (copied) rendered operator.

    A mapped task (``.expand``) is rendered for ``map_index`` the way a worker does: the MappedOperator expands
    its input for that index, unmaps itself into a plain operator and renders that one.
    """
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    # A worker parses the DAG afresh for every task; resolving params mutates the DAG's Param objects, so a
    # copy stands in for that fresh parse and keeps one render from leaking into the next.
    dag = copy.deepcopy(dag)
    task = dag.get_task(task_id).prepare_for_execution()
    task.params = copy.deepcopy(task.params)  # operators share their Param objects even when copied
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id=dag.dag_id,
        run_id=dag_run.run_id,
        try_number=1,
        map_index=map_index,
        dag_version_id=uuid.uuid4(),
        task=task,
        _ti_context_from_server=TIRunContext(
            dag_run=dag_run, max_tries=task.retries, variables=[], connections=[], xcom_keys_to_clear=[]
        ),
    )
    context = ti.get_template_context()
    task.render_template_fields(context)
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    return context["task"] if isinstance(task, MappedOperator) else task


def plan(dag, dag_run) -> list[dict[str, Any]]:
    """Every task of the DAG in run order, rendered: what the DockerOperator would hand the Docker engine.

    The environment includes what the operator adds to the container's private environment when it runs (the
    secrets from Connections, AIRFLOW_CONN_* here), as DockerOperator merges both into the container's.
    """
    from attribution_common import run_time_secrets

    out = []
    for task in dag.topological_sort():
        rendered = render_task(dag, task.task_id, dag_run)
        out.append(
            {
                "task_id": rendered.task_id,
                "image": rendered.image,
                "command": rendered.format_command(rendered.command),
                "environment": {**rendered.environment, **run_time_secrets(rendered.settings, rendered.step)},
                "mounts": [dict(m) for m in rendered.mounts],
                "retries": rendered.retries,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dag", required=True)
    parser.add_argument("--conf", default=None, help="manual run conf (JSON), e.g. start/end params")
    parser.add_argument("--interval-start", default=None, help="scheduled run whose interval starts this day")
    parser.add_argument("--out", default="-", help="where to write the JSON plan (Airflow logs to stdout)")
    args = parser.parse_args(argv)
    dag = get_dag(args.dag)
    if args.interval_start:
        day = dt.date.fromisoformat(args.interval_start)
        dag_run = scheduled_run(dag, dt.datetime(day.year, day.month, day.day, tzinfo=UTC))
    else:
        dag_run = manual_run(dag, json.loads(args.conf) if args.conf else None)
    text = json.dumps(plan(dag, dag_run), indent=2, default=str) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
