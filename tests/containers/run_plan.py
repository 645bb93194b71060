"""Run a rendered DAG plan (tests/dags/airflow_render.py --out) with buildah, task by task, in order.

Each task runs in a fresh container of its image, with the image's own ENTRYPOINT followed by the rendered
command (what `docker run IMAGE CMD...` does; `buildah run` runs only what it is given, so the entrypoint is
read from the image config), the rendered environment, and every named volume of the plan replaced by one
host folder (what a Docker named volume is). Stops at the first task that fails, with its exit code.

    python tests/containers/run_plan.py PLAN.json --volume NAME=HOST_DIR [--volume ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def log(message: str) -> None:
    print(f"[run-plan] {message}", file=sys.stderr, flush=True)


def image_config(image: str) -> dict:
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", image], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)["OCIv1"]["config"]


def run_task(task: dict, volumes: dict[str, str]) -> int:
    image = task["image"]
    config = image_config(image)
    entrypoint = config.get("Entrypoint") or []
    if not entrypoint:
        raise SystemExit(f"{image} has no ENTRYPOINT")
    # As docker does: the task's command replaces the image's CMD; no command means the CMD.
    argv = [*entrypoint, *(task["command"] or config.get("Cmd") or [])]

    mounts = []
    for m in task["mounts"]:
        if m.get("Type") != "volume":
            raise SystemExit(f"{task['task_id']}: only volume mounts are expected, got {m}")
        source = m["Source"]
        if source not in volumes:
            raise SystemExit(f"{task['task_id']}: no host folder given for volume {source!r} (--volume)")
        mounts += ["-v", f"{volumes[source]}:{m['Target']}"]

    env = []
    for key, value in (task.get("environment") or {}).items():
        env += ["--env", f"{key}={value}"]

    name = f"e2e-{task['task_id']}-{int(time.time() * 1000)}"
    subprocess.run(["buildah", "from", "--pull=never", "--name", name, image], check=True, stdout=subprocess.DEVNULL)
    try:
        user = config.get("User") or "root"
        shown = " ".join(argv)
        log(f"{task['task_id']}: {image} (user {user}) $ {shown}")
        started = time.monotonic()
        # --user: buildah run would otherwise run as root; the image's USER is what docker would use.
        result = subprocess.run(
            ["buildah", "run", "--isolation", "chroot", "--user", user, *mounts, *env, name, "--", *argv]
        )
        log(f"{task['task_id']}: exit {result.returncode} after {time.monotonic() - started:.1f}s")
        return result.returncode
    finally:
        subprocess.run(["buildah", "rm", name], check=False, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("plan")
    parser.add_argument("--volume", action="append", default=[], help="NAME=HOST_DIR")
    args = parser.parse_args()
    volumes = dict(v.split("=", 1) for v in args.volume)
    with open(args.plan) as fh:
        plan = json.load(fh)
    for task in plan:
        code = run_task(task, volumes)
        if code != 0:
            log(f"FAILED: {task['task_id']} exited {code}")
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
