"""Issue 14 in the DAGs, on the real Airflow: parallelism on PostgreSQL, shards, runners, exit codes, secrets
from Connections, Assets and the failure notifier."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import airflow_render as ar

UTC = dt.timezone.utc
REPO = Path(__file__).resolve().parents[2]
PG_URL = "postgres://attribution@db.internal:5432/attribution"
IHC_SECRET = "ihc-key-7f3a9-never-shown"
PG_SECRET = "pg-pass-41c2-never-shown"


def utc(y, m, d, h=0):
    return dt.datetime(y, m, d, h, tzinfo=UTC)


def dags(monkeypatch, **settings):
    for name, value in settings.items():
        monkeypatch.setenv(f"ATTRIBUTION_{name}", str(value))
    bag = ar.load_dagbag()
    assert bag.import_errors == {}
    return bag.dags


def import_errors(monkeypatch, **settings):
    for name, value in settings.items():
        monkeypatch.setenv(f"ATTRIBUTION_{name}", str(value))
    return ar.load_dagbag().import_errors


@pytest.fixture
def connections(monkeypatch):
    """Both Connections, as a deployment defines them (here through Airflow's environment secrets backend)."""
    from airflow.sdk.execution_time.cache import SecretCache

    monkeypatch.setenv(
        "AIRFLOW_CONN_IHC_API",
        json.dumps({"conn_type": "http", "host": "https://ihc.vendor.example/v1", "password": IHC_SECRET}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_ATTRIBUTION_DB",
        json.dumps(
            {"conn_type": "postgres", "host": "db.internal", "port": 5432, "login": "attribution", "password": PG_SECRET, "schema": "attribution"}
        ),
    )
    SecretCache.reset() if hasattr(SecretCache, "reset") else None
    yield
    SecretCache.reset() if hasattr(SecretCache, "reset") else None


# --- parallel windows and shards ------------------------------------------------------------------------


def test_sqlite_keeps_one_writer_and_refuses_the_default_pool(monkeypatch):
    pipeline = dags(monkeypatch)["attribution_pipeline"]
    assert (pipeline.max_active_runs, pipeline.max_active_tasks) == (1, 1)
    assert {t.pool for t in pipeline.tasks} == {"attribution_sqlite"}
    errors = import_errors(monkeypatch, POOL="default_pool")
    assert errors and all("ATTRIBUTION_POOL" in e and "make airflow-pool" in e for e in errors.values())


def test_sqlite_refuses_shards(monkeypatch):
    errors = import_errors(monkeypatch, SHARDS=4)
    assert errors and all("ATTRIBUTION_SHARDS" in e and "postgres" in e for e in errors.values())


def test_postgres_allows_parallel_runs_and_tasks(monkeypatch):
    bag = dags(monkeypatch, DATABASE_URL=PG_URL)
    for dag in bag.values():
        assert (dag.max_active_runs, dag.max_active_tasks) == (4, 8)
        assert {t.pool for t in dag.tasks} == {"default_pool"}
    bag = dags(monkeypatch, DATABASE_URL=PG_URL, MAX_ACTIVE_RUNS=2, MAX_ACTIVE_TASKS=16)
    assert (bag["attribution_pipeline"].max_active_runs, bag["attribution_pipeline"].max_active_tasks) == (2, 16)


def test_send_to_api_is_mapped_over_the_shards(monkeypatch):
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.serialization.serialized_objects import DagSerialization

    pipeline = dags(monkeypatch, DATABASE_URL=PG_URL, SHARDS=3)["attribution_pipeline"]
    send = pipeline.get_task("send_to_api")
    assert isinstance(send, MappedOperator)
    assert send.downstream_task_ids == {"process_attribution"}
    assert pipeline.get_task("process_attribution").upstream_task_ids == {"send_to_api"}
    DagSerialization.from_dict(DagSerialization.to_dict(pipeline))  # the scheduler can store and read the mapping
    run = ar.manual_run(pipeline, {"start_date": "2023-08-01", "end_date": "2023-08-31"}, run_after=utc(2023, 9, 1))
    commands = [ar.render_task(pipeline, "send_to_api", run, map_index=i).command for i in range(3)]
    assert commands == [
        ["--start-date", "2023-08-01", "--end-date", "2023-08-31", "--provider", "local", "--shard", f"{i}/3"] for i in (1, 2, 3)
    ]
    # one process-attribution for the whole window, after every shard
    assert ar.render_task(pipeline, "process_attribution", run).command == ["--start-date", "2023-08-01", "--end-date", "2023-08-31"]


# --- exit codes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [2, 3, 4, 5, 8])
def test_exit_codes_that_a_retry_cannot_fix_fail_at_once(code):
    from airflow.sdk.exceptions import AirflowFailException
    from attribution_common import fail_for_exit_code

    with pytest.raises(AirflowFailException, match=f"exited {code}"):
        fail_for_exit_code("send_to_api", code)


@pytest.mark.parametrize("code", [1, 6, 7, 137])
def test_other_exit_codes_are_retried(code):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
    from attribution_common import fail_for_exit_code

    with pytest.raises(AirflowException) as raised:
        fail_for_exit_code("send_to_api", code)
    assert not isinstance(raised.value, AirflowFailException)


def test_the_docker_failure_gives_the_exit_code():
    from airflow.providers.docker.exceptions import DockerContainerFailedException
    from attribution_common import docker_exit_code

    # the message DockerOperator raises with the engine's wait() result
    result = {"Error": None, "StatusCode": 3}
    assert docker_exit_code(DockerContainerFailedException(f"Docker container failed: {result!r}", logs=[])) == 3
    assert docker_exit_code(DockerContainerFailedException("something else")) is None


def test_a_real_task_usage_error_fails_without_retry(monkeypatch):
    """The compiled task itself (dist/), run by the local runner: an impossible date is exit 2, not retried."""
    from airflow.sdk.exceptions import AirflowFailException

    from attribution_common import Settings, _local_operator_class

    monkeypatch.setenv("ATTRIBUTION_RUNNER", "local")
    settings = Settings.from_env()
    cls = _local_operator_class()
    # a real task: build-journeys with an impossible date is a usage error (2)
    op = cls(task_id="build_journeys", step="build-journeys", settings=settings,
             command=["--start-date", "2023-02-30", "--end-date", "2023-03-01"], environment={"DATABASE_URL": ":memory:"})
    with pytest.raises(AirflowFailException, match="exited 2"):
        op.execute({})


# --- runners --------------------------------------------------------------------------------------------


def test_a_bad_runner_is_an_import_error(monkeypatch):
    errors = import_errors(monkeypatch, RUNNER="podman")
    assert errors and all("ATTRIBUTION_RUNNER" in e for e in errors.values())


@pytest.fixture
def fake_tasks(tmp_path):
    """A project folder whose dist/tasks/<step>/main.js records its argv and environment, then exits as told."""
    script = textwrap.dedent(
        """
        const fs = require('node:fs');
        const path = require('node:path');
        const step = path.basename(__dirname);
        fs.writeFileSync(path.join(__dirname, '..', '..', '..', `seen-${step}.json`),
                         JSON.stringify({ argv: process.argv.slice(2), env: process.env }));
        console.log(`fake ${step} ran`);
        process.exit(Number(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'exit-code'), 'utf8')));
        """
    )
    for step in ("setup-db", "build-journeys", "send-to-api", "process-attribution", "load"):
        folder = tmp_path / "dist" / "tasks" / step
        folder.mkdir(parents=True)
        (folder / "main.js").write_text(script)
    (tmp_path / "exit-code").write_text("0")
    return tmp_path


def test_local_runner_runs_the_same_command_and_environment_with_the_secrets(monkeypatch, fake_tasks, connections):
    pipeline = dags(monkeypatch, RUNNER="local", LOCAL_DIR=str(fake_tasks), DATABASE_URL=PG_URL)["attribution_pipeline"]
    run = ar.manual_run(pipeline, {"start_date": "2023-08-29", "end_date": "2023-09-07"}, run_after=utc(2024, 1, 1))
    send = ar.render_task(pipeline, "send_to_api", run)
    assert type(send).__name__ == "LocalTaskOperator"
    rendered = json.dumps({f: getattr(send, f) for f in send.template_fields})
    assert IHC_SECRET not in rendered and PG_SECRET not in rendered  # what the UI's "Rendered Template" shows
    send.execute({})
    seen = json.loads((fake_tasks / "seen-send-to-api.json").read_text())
    assert seen["argv"] == ["--start-date", "2023-08-29", "--end-date", "2023-09-07", "--provider", "local"]
    env = seen["env"]
    assert env["IHC_API_KEY"] == IHC_SECRET
    assert env["IHC_BASE_URL"] == "https://ihc.vendor.example/v1"
    assert env["PGPASSWORD"] == PG_SECRET
    assert env["DATABASE_URL"] == "postgres://attribution@db.internal:5432/attribution"  # no password in the URL
    assert env["OUTPUT_DIR"] == f"{fake_tasks}/output" and env["LOG_FORMAT"] == "json"
    # other steps get the database password, never the IHC key
    build = ar.render_task(pipeline, "build_journeys", run)
    build.execute({})
    env = json.loads((fake_tasks / "seen-build-journeys.json").read_text())["env"]
    assert env["PGPASSWORD"] == PG_SECRET and "IHC_API_KEY" not in env


def test_local_runner_applies_the_exit_code_policy(monkeypatch, fake_tasks):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    pipeline = dags(monkeypatch, RUNNER="local", LOCAL_DIR=str(fake_tasks))["attribution_pipeline"]
    task = ar.render_task(pipeline, "setup_db", ar.manual_run(pipeline, None, run_after=utc(2024, 1, 1)))
    (fake_tasks / "exit-code").write_text("5")
    with pytest.raises(AirflowFailException, match="exited 5"):
        task.execute({})
    (fake_tasks / "exit-code").write_text("6")
    with pytest.raises(AirflowException, match="exited 6") as raised:
        task.execute({})
    assert not isinstance(raised.value, AirflowFailException)


def test_local_runner_defaults_point_at_the_checkout(monkeypatch):
    from attribution_common import Settings

    monkeypatch.setenv("ATTRIBUTION_RUNNER", "local")
    s = Settings.from_env()
    assert s.database_url == f"{REPO}/data/attribution.db"
    assert s.output_dir == f"{REPO}/output"
    assert s.incoming_dir == f"{REPO}/data/incoming"


def test_kubernetes_runner_renders_the_same_image_and_arguments_to_a_pod(monkeypatch):
    pytest.importorskip("airflow.providers.cncf.kubernetes")
    pipeline = dags(monkeypatch, RUNNER="kubernetes", DATABASE_URL=PG_URL, K8S_NAMESPACE="analytics", K8S_SECRET="attr-secrets",
                    K8S_CPU="500m", K8S_MEMORY="1Gi")["attribution_pipeline"]
    run = ar.manual_run(pipeline, {"start_date": "2023-08-29", "end_date": "2023-09-07"}, run_after=utc(2024, 1, 1))
    send = ar.render_task(pipeline, "send_to_api", run)
    pod = send.build_pod_request_obj({}, dry_run=True)
    container = pod.spec.containers[0]
    assert pod.metadata.namespace == "analytics"
    assert container.image == "attribution-send-to-api:latest"
    assert container.args == ["--start-date", "2023-08-29", "--end-date", "2023-09-07", "--provider", "local"]
    assert not container.command  # the image's ENTRYPOINT, as with docker
    env = {e.name: e.value for e in container.env}
    assert env["DATABASE_URL"] == PG_URL and env["OUTPUT_DIR"] == "/data/output"
    assert [s.secret_ref.name for s in container.env_from] == ["attr-secrets"]
    assert container.resources.requests == {"cpu": "500m", "memory": "1Gi"}
    assert container.resources.limits == {"memory": "1Gi"}


def test_the_pod_exit_code_decides_on_retries():
    pytest.importorskip("airflow.providers.cncf.kubernetes")
    from kubernetes.client import models as k8s

    from attribution_common import pod_exit_code

    def pod(code):
        state = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=code))
        status = k8s.V1ContainerStatus(name="base", state=state, image="i", image_id="i", ready=False, restart_count=0)
        return k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=[status]))

    assert pod_exit_code(pod(4), "base") == 4
    assert pod_exit_code(pod(4), "sidecar") is None
    assert pod_exit_code(k8s.V1Pod(status=k8s.V1PodStatus()), "base") is None


# --- secrets --------------------------------------------------------------------------------------------


def test_docker_secrets_go_to_the_private_environment_only(monkeypatch, connections):
    from airflow.sdk._shared.secrets_masker import redact
    from attribution_common import run_time_secrets

    pipeline = dags(monkeypatch, DATABASE_URL=PG_URL)["attribution_pipeline"]
    run = ar.manual_run(pipeline, {"start_date": "2023-08-29", "end_date": "2023-09-07"}, run_after=utc(2024, 1, 1))
    send = ar.render_task(pipeline, "send_to_api", run)
    rendered = json.dumps({f: getattr(send, f) for f in send.template_fields}, default=str)
    assert IHC_SECRET not in rendered and PG_SECRET not in rendered
    assert "private_environment" not in send.template_fields
    secrets = run_time_secrets(send.settings, "send-to-api")
    assert secrets == {
        "DATABASE_URL": "postgres://attribution@db.internal:5432/attribution",
        "PGPASSWORD": PG_SECRET,
        "IHC_API_KEY": IHC_SECRET,
        "IHC_BASE_URL": "https://ihc.vendor.example/v1",
    }
    logged = str(redact(f"environment {secrets}"))
    assert IHC_SECRET not in logged and PG_SECRET not in logged
    assert "IHC_API_KEY" not in run_time_secrets(send.settings, "process-attribution")


def test_without_connections_the_tasks_get_no_secret(monkeypatch):
    from attribution_common import Settings, run_time_secrets

    assert run_time_secrets(Settings.from_env(), "send-to-api") == {}


# --- assets ---------------------------------------------------------------------------------------------


def test_load_declares_the_tables_it_refreshes_and_the_pipeline_can_follow(monkeypatch):
    from airflow.sdk import AssetAny, AssetOrTimeSchedule
    from airflow.serialization.serialized_objects import DagSerialization

    bag = dags(monkeypatch)
    outlets = bag["attribution_load"].get_task("load").outlets
    assert sorted(a.name for a in outlets) == ["attribution.conversions", "attribution.session_costs", "attribution.session_sources"]
    assert not bag["attribution_load"].get_task("setup_db").outlets
    for mode, kind in (("assets", AssetAny), ("assets_or_time", AssetOrTimeSchedule)):
        pipeline = dags(monkeypatch, SCHEDULE_ON=mode)["attribution_pipeline"]
        DagSerialization.to_dict(pipeline)
        schedule = pipeline.timetable if mode == "assets_or_time" else pipeline.timetable.asset_condition
        assert isinstance(schedule, kind), mode
    errors = import_errors(monkeypatch, SCHEDULE_ON="hourly")
    assert errors and all("ATTRIBUTION_SCHEDULE_ON" in e for e in errors.values())


def test_an_asset_triggered_run_takes_the_days_of_the_drops():
    from attribution_common import Window, run_window

    events = [{"extra": {"start_date": "2023-09-05", "end_date": "2023-09-06"}}, {"extra": {"start_date": "2023-09-03", "end_date": "2023-09-04"}}]
    run = {"run_after": utc(2023, 9, 8, 6), "consumed_asset_events": events}
    assert run_window({}, run) == Window("2023-09-03", "2023-09-06")
    # an event without days: the last complete day
    assert run_window({}, {"run_after": utc(2023, 9, 8, 6), "consumed_asset_events": [{"extra": {}}]}).start == "2023-09-07"


# --- failure notification -------------------------------------------------------------------------------


def test_the_notifier_is_chosen_by_setting(monkeypatch, capsys):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from attribution_common import LogNotifier

    assert all(not t.on_failure_callback for t in dags(monkeypatch)["attribution_pipeline"].tasks)  # default: none
    for task in dags(monkeypatch, NOTIFIER="smtp:data@example.com,oncall@example.com")["attribution_pipeline"].tasks:
        [notifier] = task.on_failure_callback
        assert isinstance(notifier, SmtpNotifier) and notifier.to == ["data@example.com", "oncall@example.com"]
    tasks = dags(monkeypatch, NOTIFIER="log")["attribution_pipeline"].tasks
    [notifier] = tasks[0].on_failure_callback
    assert isinstance(notifier, LogNotifier)

    class TI:
        dag_id, task_id, try_number = "attribution_pipeline", "send_to_api", 3

    capsys.readouterr()
    notifier.notify({"ti": TI(), "run_id": "manual__x", "exception": RuntimeError("exit 7")})
    # the task log (Airflow's structlog writes it to the task's log stream; here stdout)
    assert "ATTRIBUTION FAILURE dag=attribution_pipeline task=send_to_api run=manual__x try=3: exit 7" in capsys.readouterr().out
    errors = import_errors(monkeypatch, NOTIFIER="pager")
    assert errors and all("ATTRIBUTION_NOTIFIER" in e for e in errors.values())


# --- the one-writer pool --------------------------------------------------------------------------------


def test_airflow_pool_script_creates_and_checks_the_one_slot_pool(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db"}
    env["PATH"] = f"{Path(os.sys.executable).parent}:{env['PATH']}"
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    first = subprocess.run(["bash", str(REPO / "scripts/airflow-pool.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "attribution_sqlite" in first.stdout and "1 slot" in first.stdout
    # someone widened it: the check says so and fails
    subprocess.run(["airflow", "pools", "set", "attribution_sqlite", "3", "widened"], env=env, check=True, capture_output=True, timeout=300)
    check = subprocess.run(["bash", str(REPO / "scripts/airflow-pool.sh"), "--check"], env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode != 0 and "3 slots" in check.stderr
