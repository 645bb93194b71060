"""Daily attribution pipeline: setup-db >> build-journeys >> send-to-api >> process-attribution."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from airflow.sdk import DAG, CronDataIntervalTimetable  # noqa: E402

from attribution_common import (  # noqa: E402
    USER_DEFINED_MACROS,
    WINDOW_ARGS,
    Settings,
    setup_db_operator,
    task_operator,
    var,
    window_params,
)

settings = Settings.from_env()

DOC_MD = f"""
### Attribution pipeline

Turns the sessions, conversions and costs already in the database into customer journeys, sends them to the
attribution provider and refreshes `channel_reporting` plus the CSV report, for **one window per run**.

| task | image | command |
|---|---|---|
| `setup_db` | `<prefix>-setup-db:<tag>` | create/migrate the database, check the schema |
| `build_journeys` | `<prefix>-build-journeys:<tag>` | `--start-date S --end-date E` |
| `send_to_api` | `<prefix>-send-to-api:<tag>` | `--start-date S --end-date E --provider P` |
| `process_attribution` | `<prefix>-process-attribution:<tag>` | `--start-date S --end-date E` |

**Window.** Scheduled runs use their data interval (`{settings.schedule}`, UTC): the interval
`[D 00:00, D+1 00:00)` becomes `--start-date D --end-date D` (the end date is inclusive, so it is the day
before the interval's end). A manual run may give `start_date` and `end_date` (both, `YYYY-MM-DD`,
start <= end) to reprocess any range in one run; without them it uses its data interval, or the last complete
day when it has none. Re-running a window is safe: every step recomputes what the window touches.

**One writer.** `max_active_runs=1` and one task at a time, since SQLite takes one writer; put every
attribution task in a one-slot pool (`ATTRIBUTION_POOL`) so that this DAG and `attribution_load` never
write at the same time.

**Storage.** Every container mounts the named volume `{settings.volume}` at `/data` (the SQLite file and the
outputs). **Variables** (read when tasks run): `attribution_image_prefix`, `attribution_image_tag`,
`attribution_provider` (`local`, `ihc` or a URL), `attribution_database_url`, `attribution_output_dir`,
`attribution_ihc_api_key` (secret; masked). Parse-time environment: `ATTRIBUTION_*` (see the README).
"""

with DAG(
    dag_id="attribution_pipeline",
    description="Daily multi-touch attribution: journeys -> provider -> channel_reporting",
    doc_md=DOC_MD,
    schedule=CronDataIntervalTimetable(settings.schedule, timezone="UTC"),
    start_date=settings.start_date,
    catchup=settings.catchup,
    max_active_runs=1,
    max_active_tasks=1,
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
        [*WINDOW_ARGS, "--provider", var("attribution_provider", settings.provider)],
        settings,
        secret_environment={"IHC_API_KEY": var("attribution_ihc_api_key", "")},
        doc_md="Send the journeys to the attribution provider in batches; resumes where a crash stopped.",
    )
    process_attribution = task_operator(
        "process_attribution",
        "process-attribution",
        list(WINDOW_ARGS),
        settings,
        doc_md="Validate the answers, write attribution_customer_journey and channel_reporting, export the CSV.",
    )

    setup_db >> build_journeys >> send_to_api >> process_attribution
