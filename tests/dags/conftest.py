"""Airflow must see its home and settings before it is first imported: a throw-away AIRFLOW_HOME per session."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_home = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[2] / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# A parse that passes 30 s on a loaded CI machine (two cores shared by several jobs) is not a DAG error.
os.environ["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "300"
# Settings the DAGs read at parse time must not leak in from the developer's shell.
for _name in list(os.environ):
    if _name.startswith("ATTRIBUTION_") or _name.startswith("AIRFLOW_VAR_"):
        del os.environ[_name]

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))  # attribution_common, as the DAG files import it
