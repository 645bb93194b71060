"""Daily attribution pipeline: setup-db >> build-journeys >> send-to-api >> process-attribution."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from airflow.sdk import DAG, AssetOrTimeSchedule, CronDataIntervalTimetable  # noqa: E402

from attribution_common import (  # noqa: E402
    USER_DEFINED_MACROS,
    WINDOW_ARGS,
    Settings,
    dag_limits,
    loaded_assets,
    setup_db_operator,
    task_operator,
    var,
    window_params,
)

settings = Settings.from_env()


def schedule_of(s: Settings):
    """ATTRIBUTION_SCHEDULE_ON: the daily timetable, the load DAG's Assets, or whichever comes first."""
    from airflow.sdk import AssetAny

    time = CronDataIntervalTimetable(s.schedule, timezone="UTC")
    if s.schedule_on == "time":
        return time
    assets = AssetAny(*loaded_assets())
    return assets if s.schedule_on == "assets" else AssetOrTimeSchedule(timetable=time, assets=assets)


PROVIDER_ARGS = ["--provider", var("attribution_provider", settings.provider)]
SHARD_COMMANDS = (
    [[*WINDOW_ARGS, *PROVIDER_ARGS, "--shard", f"{i}/{settings.shards}"] for i in range(1, settings.shards + 1)]
    if settings.shards > 1
    else None
)

DOC_MD = f"""
### Attribution pipeline

Turns the sessions, conversions and costs already in the database into customer journeys, sends them to the
attribution provider and refreshes `channel_reporting` plus the CSV report, for **one window per run**.

| task | image | command |
|---|---|---|
| `setup_db` | `<prefix>-setup-db:<tag>` | create/migrate the database, check the schema |
| `build_journeys` | `<prefix>-build-journeys:<tag>` | `--start-date S --end-date E` |
| `send_to_api` | `<prefix>-send-to-api:<tag>` | `--start-date S --end-date E --provider P` (`--shard I/N` when mapped) |
| `process_attribution` | `<prefix>-process-attribution:<tag>` | `--start-date S --end-date E`; writes attribution_customer_journey, channel_reporting, three CSVs (channel_reporting, channel_summary, model_comparison) and report.html |

Runner (`ATTRIBUTION_RUNNER`, now `{settings.runner}`): `docker` runs each step's image with DockerOperator,
`kubernetes` the same image with KubernetesPodOperator, `local` runs `node dist/tasks/<step>/main.js` with the
same arguments and environment on the worker (a laptop without a container engine).

**Window.** Scheduled runs use their data interval (`{settings.schedule}`, UTC): the interval
`[D 00:00, D+1 00:00)` becomes `--start-date D --end-date D` (the end date is inclusive, so it is the day
before the interval's end). A manual run may give `start_date` and `end_date` (both, `YYYY-MM-DD`,
start <= end) to reprocess any range in one run; without them it uses its data interval, or the last complete
day when it has none. Re-running a window is safe: every step recomputes what the window touches.

**Parallelism.** On SQLite: one run and one task at a time (one writer), every task in the one-slot pool
`ATTRIBUTION_POOL` (default `attribution_sqlite`; `make airflow-pool` creates it) so that this DAG and
`attribution_load` never write at the same time. On PostgreSQL (`ATTRIBUTION_DATABASE_URL=postgres://...`):
up to `ATTRIBUTION_MAX_ACTIVE_RUNS` runs (default 4; now {settings.max_active_runs}) and
`ATTRIBUTION_MAX_ACTIVE_TASKS` tasks (now {settings.max_active_tasks}); overlapping windows are safe (the
tasks lock what they replace). `ATTRIBUTION_SHARDS=N` (now {settings.shards}) maps `send_to_api` over N
shards of the window (`--shard I/N`), then one `process_attribution`.

**Retries.** Exit codes 2, 3, 4, 5 and 8 (usage, configuration, input, schema, consistency) fail the task at
once; 1, 6 and 7 are retried with exponential backoff (`ATTRIBUTION_RETRIES`). On failure the notifier
`ATTRIBUTION_NOTIFIER` (`none`, `log`, `smtp:<addresses>` or `module:callable`) is called.

**Schedule.** `ATTRIBUTION_SCHEDULE_ON` (now `{settings.schedule_on}`): `time` (the timetable above),
`assets` (each `attribution_load` run that refreshed the tables triggers a run for the days its drop
covered) or `assets_or_time`.

**Storage.** Every container mounts the named volume `{settings.volume}` at `/data` (the SQLite file and the
outputs). **Variables** (read when tasks run): `attribution_image_prefix`, `attribution_image_tag`,
`attribution_provider` (`local`, `ihc` or a URL), `attribution_database_url`, `attribution_output_dir`.
**Connections** (read when tasks run, passed only in the private environment, masked in logs):
`{settings.ihc_conn_id}` (host = IHC base URL, password = API key; send_to_api only) and
`{settings.db_conn_id}` (PostgreSQL: host, port, login, password, schema = database). Parse-time
environment: `ATTRIBUTION_*` (README, "Airflow settings").
"""

with DAG(
    dag_id="attribution_pipeline",
    description="Daily multi-touch attribution: journeys -> provider -> channel_reporting",
    doc_md=DOC_MD,
    schedule=schedule_of(settings),
    start_date=settings.start_date,
    catchup=settings.catchup,
    **dag_limits(settings),
    params=window_params(),
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["attribution"],
    default_args={"owner": "data-platform"},
) as dag:
    setup_db = setup_db_operator(settings)
    build_journeys = task_operator(
        "build_journeys",
        "build-journeys",
        list(WINDOW_ARGS),
        settings,
        doc_md="Build the window's customer journeys into the staging table.",
    )
    send_to_api = task_operator(
        "send_to_api",
        "send-to-api",
        [*WINDOW_ARGS, *PROVIDER_ARGS],
        settings,
        shard_commands=SHARD_COMMANDS,
        doc_md="Send the journeys to the attribution provider in batches; resumes where a crash stopped. "
        "Mapped over ATTRIBUTION_SHARDS shards of the window (--shard I/N) when set.",
    )
    process_attribution = task_operator(
        "process_attribution",
        "process-attribution",
        list(WINDOW_ARGS),
        settings,
        doc_md="Validate the answers, write attribution_customer_journey and channel_reporting (one checked transaction), "
        "then channel_reporting.csv, channel_summary.csv, model_comparison.csv and report.html in OUTPUT_DIR/<start>_<end>/.",
    )

    setup_db >> build_journeys >> send_to_api >> process_attribution
