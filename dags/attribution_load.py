"""Load a drop of CSV files (sessions, conversions, costs) into the attribution database."""

from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from airflow.sdk import DAG, Param  # noqa: E402

from attribution_common import (  # noqa: E402
    USER_DEFINED_MACROS,
    Settings,
    dag_limits,
    loaded_assets,
    setup_db_operator,
    task_operator,
    window_params,
)

settings = Settings.from_env()

DOC_MD = f"""
### Load a CSV drop

Validates and upserts one drop of the three CSV files into the database; bad rows go to the quarantine
table with a reason, good rows are upserted, so loading the same drop twice changes nothing.

Put the drop in a folder of the named volume `{settings.volume}` (mounted at `{settings.data_dir}`), holding
`session_sources.csv`, `conversions.csv` and `session_costs.csv`, then trigger this DAG with
`{{"dir": "{settings.incoming_dir}/<drop>"}}` (default `{settings.incoming_dir}`), e.g.

    airflow dags trigger attribution_load --conf '{{"dir": "{settings.incoming_dir}/2023-09-08"}}'

and then `attribution_pipeline` for the days the drop covers (the next scheduled run picks up new rows of
its own day by itself). The `load` task's outlets are the Assets `attribution.session_sources`,
`attribution.conversions` and `attribution.session_costs`: with `ATTRIBUTION_SCHEDULE_ON=assets` (or
`assets_or_time`) the pipeline runs by itself after each load, for the days given here as `start_date` /
`end_date` (optional; without them, the last complete day). Tasks: `setup_db >> load`; on SQLite one run at
a time, and the same one-slot pool as the pipeline.
"""

with DAG(
    dag_id="attribution_load",
    description="Load a drop of session/conversion/cost CSV files into the attribution database",
    doc_md=DOC_MD,
    schedule=None,
    start_date=settings.start_date,
    catchup=False,
    **dag_limits(settings),
    params={
        "dir": Param(
            settings.incoming_dir,
            type="string",
            title="Drop folder",
            description=(
                f"Folder inside the data volume ({settings.data_dir}/...) with session_sources.csv, "
                "conversions.csv and session_costs.csv."
            ),
            # Only paths inside the mounted volume exist in the container; no '..' escapes.
            pattern=rf"^{re.escape(settings.data_dir)}(/(?!\.\.(/|$))[^/]+)*/?$",
        ),
        **window_params(),
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
        doc_md="Validate and upsert the drop's rows; quarantine the bad ones. Outlets: the three tables' Assets.",
        outlets=loaded_assets(),
    )

    setup_db >> load
