"""The attribution DAGs as a real Airflow 3 (with the docker provider) parses, schedules and renders them."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import airflow_render as ar

UTC = dt.timezone.utc
PIPELINE_ORDER = ["setup_db", "build_journeys", "send_to_api", "process_attribution"]
STEP_OF = {
    "setup_db": "setup-db",
    "build_journeys": "build-journeys",
    "send_to_api": "send-to-api",
    "process_attribution": "process-attribution",
    "load": "load",
}


@pytest.fixture(scope="module")
def bag():
    return ar.load_dagbag()


@pytest.fixture(scope="module")
def pipeline(bag):
    return bag.dags["attribution_pipeline"]


@pytest.fixture(scope="module")
def load_dag(bag):
    return bag.dags["attribution_load"]


def utc(y, m, d, h=0):
    return dt.datetime(y, m, d, h, tzinfo=UTC)


def window_of(task):
    cmd = list(task.command)
    return cmd[cmd.index("--start-date") + 1], cmd[cmd.index("--end-date") + 1]


# --- parsing --------------------------------------------------------------------------------------------


def test_dagbag_imports_without_errors(bag):
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["attribution_load", "attribution_pipeline"]
    parsed = {str(f).rsplit("/", 1)[-1] for f in bag.file_last_changed}
    assert parsed == {"attribution_load.py", "attribution_pipeline.py"}  # the helper is .airflowignore'd


def test_every_dag_is_documented(bag):
    for dag in bag.dags.values():
        assert dag.doc_md and len(dag.doc_md.strip()) > 200, dag.dag_id
        assert dag.tags == ["attribution"] or set(dag.tags) == {"attribution"}


def test_dags_serialize_for_the_scheduler(bag):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)  # raises on anything the scheduler could not store


# --- shape ----------------------------------------------------------------------------------------------


def test_pipeline_runs_the_four_steps_in_order(pipeline):
    assert [t.task_id for t in pipeline.topological_sort()] == PIPELINE_ORDER
    for before, after in zip(PIPELINE_ORDER, PIPELINE_ORDER[1:]):
        assert pipeline.get_task(before).downstream_task_ids == {after}
        assert pipeline.get_task(after).upstream_task_ids == {before}
    assert pipeline.get_task("setup_db").upstream_task_ids == set()
    assert pipeline.get_task("process_attribution").downstream_task_ids == set()


def test_load_dag_sets_up_then_loads(load_dag):
    assert [t.task_id for t in load_dag.topological_sort()] == ["setup_db", "load"]
    assert load_dag.get_task("load").upstream_task_ids == {"setup_db"}
    assert load_dag.max_active_runs == 1


def test_pipeline_schedule_is_a_daily_data_interval_with_one_writer(pipeline):
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = ar.scheduler_timetable(pipeline)
    assert isinstance(timetable, CronDataIntervalTimetable)
    info = ar.scheduled_interval(pipeline, utc(2023, 9, 1))
    # A real one-day window (a bare cron gives start == end in Airflow 3).
    assert info.data_interval.start == utc(2023, 9, 1)
    assert info.data_interval.end == utc(2023, 9, 2)
    assert info.run_after == utc(2023, 9, 2)
    assert pipeline.max_active_runs == 1
    assert pipeline.max_active_tasks == 1
    assert pipeline.catchup is False
    assert set(pipeline.params.keys()) == {"start_date", "end_date"}


def test_catchup_start_date_and_retries_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ATTRIBUTION_CATCHUP", "true")
    monkeypatch.setenv("ATTRIBUTION_START_DATE", "2024-01-15")
    monkeypatch.setenv("ATTRIBUTION_RETRIES", "5")
    monkeypatch.setenv("ATTRIBUTION_VOLUME", "other-volume")
    dag = ar.load_dagbag().dags["attribution_pipeline"]
    assert dag.catchup is True
    assert dag.start_date == utc(2024, 1, 15)
    assert {t.retries for t in dag.tasks} == {5}
    assert {m["Source"] for t in dag.tasks for m in t.mounts} == {"other-volume"}


def test_a_bad_setting_is_an_import_error_that_names_it(monkeypatch):
    monkeypatch.setenv("ATTRIBUTION_CATCHUP", "sometimes")
    errors = ar.load_dagbag().import_errors
    assert errors and all("ATTRIBUTION_CATCHUP" in e for e in errors.values())


# --- operators ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dag_id", ["attribution_pipeline", "attribution_load"])
def test_each_operator_runs_its_image_on_the_shared_volume(bag, dag_id):
    from airflow.providers.docker.operators.docker import DockerOperator

    dag = bag.dags[dag_id]
    run = ar.manual_run(dag, None, run_after=utc(2023, 9, 8, 6))
    for task in dag.tasks:
        assert isinstance(task, DockerOperator), task.task_id
        rendered = ar.render_task(dag, task.task_id, run)
        assert rendered.image == f"attribution-{STEP_OF[task.task_id]}:latest"
        assert [dict(m) for m in rendered.mounts] == [
            {"Target": "/data", "Source": "attribution-data", "Type": "volume", "ReadOnly": False}
        ]
        assert rendered.environment["DATABASE_URL"] == "/data/attribution.db"
        assert rendered.environment["OUTPUT_DIR"] == "/data/output"
        assert rendered.mount_tmp_dir is False
        assert rendered.auto_remove == "success"
        assert task.retries >= 1 and task.retry_delay >= dt.timedelta(minutes=1)
        assert task.execution_timeout is not None
        # Secrets are never template fields: they reach the container only through private_environment.
        assert set(rendered.environment) == {"DATABASE_URL", "OUTPUT_DIR", "LOG_FORMAT"}
        assert task.pool == "attribution_sqlite"  # SQLite: the one-slot pool shared by both DAGs


def test_images_and_database_come_from_variables(monkeypatch, pipeline):
    monkeypatch.setenv("AIRFLOW_VAR_ATTRIBUTION_IMAGE_PREFIX", "registry.example.com/team/attribution")
    monkeypatch.setenv("AIRFLOW_VAR_ATTRIBUTION_IMAGE_TAG", "1.4.2")
    monkeypatch.setenv("AIRFLOW_VAR_ATTRIBUTION_DATABASE_URL", "postgres://attribution@db:5432/attribution")
    monkeypatch.setenv("AIRFLOW_VAR_ATTRIBUTION_PROVIDER", "ihc")
    _clear_secret_cache()
    run = ar.scheduled_run(pipeline, utc(2023, 9, 1))
    send = ar.render_task(pipeline, "send_to_api", run)
    assert send.image == "registry.example.com/team/attribution-send-to-api:1.4.2"
    assert send.environment["DATABASE_URL"] == "postgres://attribution@db:5432/attribution"
    assert send.command[-2:] == ["--provider", "ihc"]
    _clear_secret_cache()


def test_no_secret_or_image_tag_is_written_into_the_dag(pipeline):
    from airflow.serialization.serialized_objects import DagSerialization

    for task in pipeline.tasks:
        assert "{{" in task.image
        assert not any("key" in name.lower() or "password" in name.lower() for name in task.environment)
    serialized = json.dumps(DagSerialization.to_dict(pipeline))
    assert "ihc_api_key" not in serialized and "PGPASSWORD" not in serialized


def _clear_secret_cache():
    from airflow.sdk.execution_time.cache import SecretCache

    SecretCache.reset() if hasattr(SecretCache, "reset") else None


# --- rendered commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "interval_start, expected",
    [
        (utc(2023, 9, 1), ("2023-09-01", "2023-09-01")),
        (utc(2023, 8, 31), ("2023-08-31", "2023-08-31")),  # month edge: end is not 2023-09-01
        (utc(2024, 2, 29), ("2024-02-29", "2024-02-29")),
        (utc(2023, 12, 31), ("2023-12-31", "2023-12-31")),
    ],
)
def test_scheduled_run_gets_its_interval_with_an_inclusive_end(pipeline, interval_start, expected):
    run = ar.scheduled_run(pipeline, interval_start)
    assert run.data_interval_end - run.data_interval_start == dt.timedelta(days=1)
    for task_id in PIPELINE_ORDER[1:]:
        assert window_of(ar.render_task(pipeline, task_id, run)) == expected
    assert ar.render_task(pipeline, "setup_db", run).command == []


def test_scheduled_commands_are_exactly_the_task_cli(pipeline):
    run = ar.scheduled_run(pipeline, utc(2023, 9, 1))
    commands = {step["task_id"]: step["command"] for step in ar.plan(pipeline, run)}
    assert commands == {
        "setup_db": [],
        "build_journeys": ["--start-date", "2023-09-01", "--end-date", "2023-09-01"],
        "send_to_api": ["--start-date", "2023-09-01", "--end-date", "2023-09-01", "--provider", "local"],
        "process_attribution": ["--start-date", "2023-09-01", "--end-date", "2023-09-01"],
    }


def test_a_wider_interval_keeps_its_edges(monkeypatch):
    monkeypatch.setenv("ATTRIBUTION_SCHEDULE", "0 0 * * 1")  # weekly, Monday to Monday
    dag = ar.load_dagbag().dags["attribution_pipeline"]
    run = ar.scheduled_run(dag, utc(2023, 8, 28))
    assert window_of(ar.render_task(dag, "build_journeys", run)) == ("2023-08-28", "2023-09-03")


def test_manual_params_give_the_window(pipeline):
    run = ar.manual_run(pipeline, {"start_date": "2023-08-29", "end_date": "2023-09-07"}, run_after=utc(2024, 1, 1))
    for task_id in PIPELINE_ORDER[1:]:
        assert window_of(ar.render_task(pipeline, task_id, run)) == ("2023-08-29", "2023-09-07")


def test_manual_params_win_over_a_logical_date(pipeline):
    run = ar.manual_run(
        pipeline, {"start_date": "2023-09-03", "end_date": "2023-09-03"}, run_after=utc(2024, 1, 1), with_logical_date=True
    )
    assert run.data_interval_start is not None
    assert window_of(ar.render_task(pipeline, "process_attribution", run)) == ("2023-09-03", "2023-09-03")


def test_manual_run_without_params_uses_its_inferred_interval(pipeline):
    run = ar.manual_run(pipeline, None, run_after=utc(2023, 9, 8, 6), with_logical_date=True)
    assert window_of(ar.render_task(pipeline, "build_journeys", run)) == ("2023-09-07", "2023-09-07")


def test_manual_run_without_logical_date_or_params_takes_the_last_full_day(pipeline):
    run = ar.manual_run(pipeline, None, run_after=utc(2023, 9, 8, 6))
    assert run.data_interval_start is None
    assert window_of(ar.render_task(pipeline, "build_journeys", run)) == ("2023-09-07", "2023-09-07")


@pytest.mark.parametrize(
    "conf",
    [
        {"start_date": "2023-13-01", "end_date": "2023-12-31"},  # no month 13
        {"start_date": "2023/09/01", "end_date": "2023-09-02"},
        {"start_date": "yesterday", "end_date": "2023-09-02"},
        {"start_date": 20230901, "end_date": "2023-09-02"},
    ],
)
def test_manual_params_are_validated_by_their_schema(pipeline, conf):
    from airflow.sdk.exceptions import ParamValidationError

    run = ar.manual_run(pipeline, conf, run_after=utc(2024, 1, 1))
    with pytest.raises(ParamValidationError):
        ar.render_task(pipeline, "build_journeys", run)


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"start_date": "2023-09-07", "end_date": "2023-08-29"}, "after end_date"),
        ({"start_date": "2023-09-07"}, "both"),
        ({"end_date": "2023-09-07"}, "both"),
    ],
)
def test_manual_params_that_make_no_window_fail_the_task(pipeline, conf, message):
    from attribution_common import WindowError

    run = ar.manual_run(pipeline, conf, run_after=utc(2024, 1, 1))
    with pytest.raises(WindowError, match=message):
        ar.render_task(pipeline, "build_journeys", run)


def test_load_takes_the_drop_folder_from_params(load_dag):
    default = ar.render_task(load_dag, "load", ar.manual_run(load_dag, None))
    assert default.command == ["--dir", "/data/incoming"]
    custom = ar.render_task(load_dag, "load", ar.manual_run(load_dag, {"dir": "/data/incoming/2023-09-08"}))
    assert custom.command == ["--dir", "/data/incoming/2023-09-08"]
    assert ar.render_task(load_dag, "setup_db", ar.manual_run(load_dag, None)).command == []


@pytest.mark.parametrize("folder", ["/etc", "/data/../etc", "data/incoming", "/data/a/../../etc"])
def test_load_refuses_folders_outside_the_volume(load_dag, folder):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        ar.render_task(load_dag, "load", ar.manual_run(load_dag, {"dir": folder}))


def test_render_cli_writes_the_plan(tmp_path):
    out = tmp_path / "plan.json"
    conf = '{"start_date": "2023-08-29", "end_date": "2023-09-07"}'
    assert ar.main(["--dag", "attribution_pipeline", "--conf", conf, "--out", str(out)]) == 0
    plan = json.loads(out.read_text())
    assert [p["task_id"] for p in plan] == PIPELINE_ORDER
    assert plan[3]["command"] == ["--start-date", "2023-08-29", "--end-date", "2023-09-07"]


def test_image_names_follow_the_build_script():
    from attribution_common import STEPS, Settings, image_template

    settings = Settings.from_env()
    names = {step: image_template(step, settings) for step in STEPS}
    var_prefix = "{{ var.value.get('attribution_image_prefix', 'attribution') }}"
    var_tag = "{{ var.value.get('attribution_image_tag', 'latest') }}"
    assert names["build-journeys"] == f"{var_prefix}-build-journeys:{var_tag}"
    assert names["attribution-api"] == f"{var_prefix}-api:{var_tag}"  # scripts/images.sh: <prefix>-api
    with pytest.raises(ValueError):
        image_template("nope", settings)
