"""A SLURM stand-in on one machine, for tests: ``sbatch``, ``squeue``, ``sacct``, ``scancel``
and ``srun`` (the scripts next to this module) behave enough like SLURM's for submitit's
``SlurmExecutor`` to submit job arrays, watch them and cancel them.

- **State** lives in the folder named by :data:`STATE_ENV` (one lock file guards it all):
  ``next_id``, ``submissions.jsonl`` (one line per ``sbatch``) and ``jobs/<id>/`` holding the
  job (``job.json``), its script and one ``tasks/<index>.json`` per array task (its state,
  process group and exit status).
- **sbatch SCRIPT** reads the ``#SBATCH`` lines (``--array=0-3%2``, ``--output``, ``--error``,
  ``--job-name``), prints ``Submitted batch job <id>`` and starts a scheduler for the job in
  a session of its own, as a real scheduler's tasks are not children of the submitting
  command: killing that command leaves them running.
- **The scheduler** starts the tasks in order, at most the array's ``%`` parallelism at once,
  each in a session of its own (``bash SCRIPT`` with the ``SLURM_*`` variables submitit
  reads), and records COMPLETED or FAILED by exit status. With :data:`KILL_ENV` set to
  ``TASK:STATE[:SECONDS]`` when ``sbatch`` runs, it kills that task's process group
  ``SECONDS`` (default 0) after starting it and records ``STATE`` (e.g. TIMEOUT), as a
  scheduler enforcing a limit does.
- **sacct** ``-o JobID,State,NodeList --parsable2 -j ID`` prints one line per task, as
  submitit parses them; **squeue** lists the tasks pending or running; **scancel ID**
  (``ID`` a job or one task, ``<id>_<index>``) marks pending and running tasks
  ``CANCELLED by <uid>`` and kills the running ones' process groups (SIGTERM, then SIGKILL:
  submitit's tasks ignore SIGTERM).
- **srun** [options] COMMAND runs COMMAND in place, its output appended to ``--output`` and
  ``--error`` (``%A %a %j %t %x %N %%`` expanded).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = [
    "KILL_ENV",
    "STATE_ENV",
    "cancel",
    "live_tasks",
    "sacct",
    "sbatch",
    "scancel",
    "srun",
    "squeue",
    "stop_all",
    "submissions",
    "task_states",
]

#: The folder holding the stand-in's state (required by every command).
STATE_ENV = "PEERSIM_STANDIN_STATE"
#: ``TASK:STATE[:SECONDS]``: the scheduler kills that array task after it starts.
KILL_ENV = "PEERSIM_STANDIN_KILL"
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")
NODE = socket.gethostname()
#: How long a cancelled task's processes get between SIGTERM and SIGKILL, in seconds.
KILL_WAIT = 1.0


def _state() -> Path:
    folder = os.environ.get(STATE_ENV)
    if not folder:
        sys.exit(f"slurm stand-in: set {STATE_ENV} to a folder for its state")
    Path(folder, "jobs").mkdir(parents=True, exist_ok=True)
    return Path(folder)


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    with open(state / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _write(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _tasks(state: Path, job: str) -> dict[int, dict]:
    folder = state / "jobs" / job / "tasks"
    return {int(p.stem): _read(p) for p in sorted(folder.glob("*.json"), key=_index)}


def _index(path: Path) -> int:
    """The number a task file or job folder is named by."""
    return int(path.stem)


def _directives(script: str) -> dict[str, str]:
    """The ``#SBATCH --key=value`` (or ``--flag``) lines of a batch script."""
    found = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH "):
            for word in shlex.split(line[len("#SBATCH ") :]):
                key, _, value = word.lstrip("-").partition("=")
                found[key] = value
    return found


def _array(spec: str | None) -> tuple[list[int] | None, int | None]:
    """Task indices and parallelism of ``--array`` (``0-3%2``, ``1,4,7``); None: no array."""
    if spec is None:
        return None, None
    ranges, _, limit = spec.partition("%")
    indices = []
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        indices += range(int(low), int(high or low) + 1)
    return indices, int(limit) if limit else None


def expand(pattern: str, env: dict[str, str]) -> str:
    """A SLURM file name pattern with ``%A %a %j %t %x %N %%`` replaced from ``env``."""
    values = {
        "A": env.get("SLURM_ARRAY_JOB_ID", env["SLURM_JOB_ID"]),
        "a": env.get("SLURM_ARRAY_TASK_ID", "4294967294"),
        "j": env["SLURM_JOB_ID"],
        "t": env.get("SLURM_PROCID", "0"),
        "x": env.get("SLURM_JOB_NAME", ""),
        "N": NODE,
        "%": "%",
    }
    out, chars = [], iter(pattern)
    for char in chars:
        out.append(values.get(next(chars, ""), "") if char == "%" else char)
    return "".join(out)


def sbatch(argv: Sequence[str]) -> int:
    """``sbatch SCRIPT``: record the job, start its scheduler, print its id."""
    if len(argv) != 1:
        print("sbatch stand-in: usage: sbatch SCRIPT", file=sys.stderr)
        return 2
    state = _state()
    script = Path(argv[0]).read_text()
    directives = _directives(script)
    indices, limit = _array(directives.get("array"))
    with _locked(state):
        number = int((state / "next_id").read_text()) if (state / "next_id").exists() else 1000
        # An array's tasks get job ids of their own, after the array's id (as in SLURM).
        (state / "next_id").write_text(str(number + 1 + len(indices or [])))
        folder = state / "jobs" / str(number)
        (folder / "tasks").mkdir(parents=True)
        (folder / "script.sh").write_text(script)
        record = {
            "id": number,
            "array": indices,
            "parallelism": limit or len(indices or [0]),
            "output": directives.get("output", "slurm-%j.out"),
            "error": directives.get("error", directives.get("output", "slurm-%j.out")),
            "name": directives.get("job-name", "sbatch"),
            "cwd": os.getcwd(),
            "kill": os.environ.get(KILL_ENV),
        }
        _write(folder / "job.json", record)
        for index in indices if indices is not None else [0]:
            _write(folder / "tasks" / f"{index}.json", {"state": "PENDING"})
        entry = {"id": number, "tasks": len(indices or [0]), "array": indices is not None}
        with open(state / "submissions.jsonl", "a") as log:
            log.write(json.dumps(entry) + "\n")
    with open(folder / "scheduler.log", "ab") as log:
        scheduler = subprocess.Popen(
            [sys.executable, __file__, str(number)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    _write(folder / "scheduler.json", {"pid": scheduler.pid})
    print(f"Submitted batch job {number}")
    return 0


def _environment(record: dict, index: int) -> dict[str, str]:
    """What SLURM sets for a batch script (submitit reads the ids, ranks and node list)."""
    number, array = record["id"], record["array"]
    env = {
        **os.environ,
        "SLURM_JOB_ID": str(number),
        "SLURM_JOB_NAME": record["name"],
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_NNODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_JOB_NODELIST": NODE,
        "SLURMD_NODENAME": NODE,
        "SLURM_NTASKS": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_SUBMIT_DIR": record["cwd"],
    }
    if array is not None:
        env.update(
            SLURM_JOB_ID=str(number + 1 + array.index(index)),
            SLURM_ARRAY_JOB_ID=str(number),
            SLURM_ARRAY_TASK_ID=str(index),
            SLURM_ARRAY_TASK_COUNT=str(len(array)),
            SLURM_ARRAY_TASK_MIN=str(min(array)),
            SLURM_ARRAY_TASK_MAX=str(max(array)),
        )
    env.pop(KILL_ENV, None)
    return env


def _start(state: Path, record: dict, index: int) -> subprocess.Popen:
    env = _environment(record, index)
    paths = [Path(record["cwd"], expand(record[key], env)) for key in ("output", "error")]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(paths[0], "ab") as out, open(paths[1], "ab") as err:
        script = state / "jobs" / str(record["id"]) / "script.sh"
        return subprocess.Popen(
            ["bash", str(script)],
            cwd=record["cwd"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def schedule(job: str) -> None:
    """Run the tasks of ``job`` until every one is final (the scheduler's process)."""
    state = _state()
    folder = state / "jobs" / job
    record = _read(folder / "job.json")
    victim, _, rest = (record["kill"] or "").partition(":")
    kill_state, _, delay = rest.partition(":")
    running: dict[int, tuple[subprocess.Popen, float]] = {}
    while True:
        with _locked(state):
            tasks = _tasks(state, job)
            for index, (process, started) in list(running.items()):
                task = tasks[index]
                if process.poll() is not None:
                    del running[index]
                    if task["state"] == "RUNNING":
                        task["state"] = "COMPLETED" if process.returncode == 0 else "FAILED"
                    task["exit"] = process.returncode
                elif (
                    str(index) == victim
                    and task["state"] == "RUNNING"
                    and time.monotonic() >= started + float(delay or 0)
                ):
                    _kill_group(process.pid, signal.SIGKILL)
                    task["state"] = kill_state or "TIMEOUT"
                else:
                    continue
                _write(folder / "tasks" / f"{index}.json", task)
            for index in sorted(tasks):
                if tasks[index]["state"] == "PENDING" and len(running) < record["parallelism"]:
                    process = _start(state, record, index)
                    running[index] = (process, time.monotonic())
                    _write(
                        folder / "tasks" / f"{index}.json",
                        {"state": "RUNNING", "pgid": process.pid},
                    )
            if not running and all(_final(t) for t in _tasks(state, job).values()):
                return
        time.sleep(0.1)


def _final(task: dict) -> bool:
    return task["state"].split(" by ")[0] in FINAL  # "CANCELLED by <uid>"


def _kill_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError):  # the group is gone already
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is alive (zombies, which have exited, are not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def submissions(state: Path) -> list[dict]:
    """Every ``sbatch`` so far, in order: ``{"id", "tasks", "array"}``."""
    log = Path(state) / "submissions.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def task_states(state: Path) -> dict[str, str]:
    """Every task's state, by ``<job>_<index>``."""
    jobs = Path(state) / "jobs"
    return {
        f"{job.name}_{index}": task["state"]
        for job in sorted(jobs.iterdir(), key=_index)
        for index, task in _tasks(Path(state), job.name).items()
    }


def live_tasks(state: Path) -> list[str]:
    """The tasks (``<job>_<index>``) some of whose processes are alive."""
    return [
        f"{job.name}_{index}"
        for job in sorted((Path(state) / "jobs").iterdir(), key=_index)
        for index, task in _tasks(Path(state), job.name).items()
        if "pgid" in task and _group_alive(task["pgid"])
    ]


def _targets(state: Path, ids: Sequence[str]) -> Iterator[tuple[str, int]]:
    for spec in ids:
        job, _, index = spec.partition("_")
        if (state / "jobs" / job).is_dir():
            for found in _tasks(state, job):
                if not index or found == int(index):
                    yield job, found


def scancel(argv: Sequence[str]) -> int:
    """``scancel ID...``: cancel jobs or array tasks (``<id>`` or ``<id>_<index>``)."""
    cancel(_state(), argv)
    return 0


def cancel(state: Path, ids: Sequence[str]) -> None:
    """Mark the pending and running tasks of ``ids`` cancelled and kill the running ones'
    process groups: SIGTERM, then SIGKILL after :data:`KILL_WAIT` (submitit's tasks ignore
    SIGTERM, as SLURM expects of a job that checkpoints)."""
    groups = []
    with _locked(state):
        for job, index in _targets(state, ids):
            path = state / "jobs" / job / "tasks" / f"{index}.json"
            task = _read(path)
            if task["state"] in ("PENDING", "RUNNING"):
                if task["state"] == "RUNNING":
                    groups.append(task["pgid"])
                task["state"] = f"CANCELLED by {os.getuid()}"
                _write(path, task)
    for pgid in groups:
        _kill_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_WAIT
    while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pgid in groups:
        _kill_group(pgid, signal.SIGKILL)


def stop_all(state: Path, wait: float = 30.0) -> list[str]:
    """Cancel every job of ``state`` and wait for their schedulers to end (a test's cleanup:
    nothing of the stand-in outlives it). Returns the jobs whose scheduler did not end
    within ``wait`` seconds of that (it is then killed)."""
    jobs = [path.parent for path in sorted((Path(state) / "jobs").glob("*/scheduler.json"))]
    cancel(Path(state), [job.name for job in jobs])
    deadline = time.monotonic() + wait
    stuck = []
    for job in jobs:
        scheduler = _read(job / "scheduler.json")["pid"]
        while _group_alive(scheduler) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(scheduler):
            _kill_group(scheduler, signal.SIGKILL)
            stuck.append(job.name)
    return stuck


def _option(args: list[str], name: str) -> list[str]:
    """The values of ``-o VALUE`` style options ``name`` in ``args``."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == name]


def sacct(argv: Sequence[str]) -> int:
    """``sacct -o FIELDS --parsable2 -j ID...``: one line per task, ``|``-separated."""
    state, args = _state(), list(argv)
    fields = ",".join(_option(args, "-o") + _option(args, "--format")) or "JobID,State"
    names = fields.split(",")
    print("|".join(names))
    for job, index in _targets(state, _option(args, "-j") + _option(args, "--jobs")):
        record, task = _read(state / "jobs" / job / "job.json"), _tasks(state, job)[index]
        values = {
            "JobID": f"{job}_{index}" if record["array"] is not None else job,
            "State": task["state"],
            "JobName": record["name"],
            "NodeList": NODE if "pgid" in task else "None assigned",
            "ExitCode": f"{task.get('exit', 0)}:0",
        }
        print("|".join(values.get(name, "") for name in names))
    return 0


def squeue(argv: Sequence[str]) -> int:
    """``squeue [-h] [-j ID...]``: the tasks pending or running."""
    state, args = _state(), list(argv)
    ids = _option(args, "-j") or [p.name for p in (state / "jobs").iterdir()]
    if "-h" not in args:
        print("JOBID STATE")
    for job, index in _targets(state, ids):
        task_state = _tasks(state, job)[index]["state"]
        if task_state in ("PENDING", "RUNNING"):
            print(f"{job}_{index} {task_state}")
    return 0


def srun(argv: Sequence[str]) -> int:
    """``srun [--output F] [--error F] [--opt ...] COMMAND...``: run COMMAND here."""
    args, files = list(argv), {}
    while args and args[0].startswith("-"):
        option = args.pop(0)
        key, _, value = option.partition("=")
        if key in ("--output", "--error", "-o", "-e"):
            files[key.lstrip("-")[0]] = value or args.pop(0)
    env = dict(os.environ, SLURM_STEP_ID="0")
    for key, fd in (("o", 1), ("e", 2)):
        if key in files:
            path = Path(expand(files[key], env))
            path.parent.mkdir(parents=True, exist_ok=True)
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
    os.execvpe(args[0], args, env)
    return 127  # not reached: exec replaces this process


if __name__ == "__main__":  # the scheduler of one job, started by sbatch
    schedule(sys.argv[1])
