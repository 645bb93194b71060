"""Load a drop of CSV files (sessions, conversions, costs) into the attribution database."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from airflow.sdk import DAG, Param  # noqa: E402

from attribution_common import DATA_MOUNT, USER_DEFINED_MACROS, Settings, setup_db_operator, task_operator  # noqa: E402

settings = Settings.from_env()

DOC_MD = f"""
### Load a CSV drop

Validates and upserts one drop of the three CSV files into the database; bad rows go to the quarantine
table with a reason, good rows are upserted, so loading the same drop twice changes nothing.

Put the drop in a folder of the named volume `{settings.volume}` (mounted at `{DATA_MOUNT}`), holding
`session_sources.csv`, `conversions.csv` and `session_costs.csv`, then trigger this DAG with
`{{"dir": "{settings.incoming_dir}/<drop>"}}` (default `{settings.incoming_dir}`), e.g.

    airflow dags trigger attribution_load --conf '{{"dir": "{settings.incoming_dir}/2023-09-08"}}'

and then `attribution_pipeline` for the days the drop covers (the next scheduled run picks up new rows of
its own day by itself). Tasks: `setup_db >> load`; one run at a time, and the same pool as the pipeline.
"""

with DAG(
    dag_id="attribution_load",
    description="Load a drop of session/conversion/cost CSV files into the attribution database",
    doc_md=DOC_MD,
    schedule=None,
    start_date=settings.start_date,
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    params={
        "dir": Param(
            settings.incoming_dir,
            type="string",
            title="Drop folder",
            description=(
                f"Folder inside the data volume ({DATA_MOUNT}/...) with session_sources.csv, "
                "conversions.csv and session_costs.csv."
            ),
            # Only paths inside the mounted volume exist in the container; no '..' escapes.
            pattern=rf"^{DATA_MOUNT}(/(?!\.\.(/|$))[^/]+)*/?$",
        ),
    },
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["attribution"],
    default_args={"owner": "data-platform"},
) as dag:
    setup_db = setup_db_operator(settings)
    load = task_operator(
        "load",
        "load",
        ["--dir", "{{ params.dir }}"],
        settings,
        doc_md="Validate and upsert the drop's rows; quarantine the bad ones.",
    )

    setup_db >> load
