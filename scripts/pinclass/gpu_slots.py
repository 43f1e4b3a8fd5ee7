"""GPU slots on one workstation: concurrent jobs each get GPUs of their own.

Snakemake counts `--resources gpu=N` but assigns no device ids to local jobs, so every job would see
every GPU. A job that asks for k GPUs claims k of the N slots by taking an exclusive lock on
`<folder>/<slot>.lock`; slot i is the i-th GPU of the parent's CUDA_VISIBLE_DEVICES (or GPU i when
that is unset), and the claimed ids become the job's CUDA_VISIBLE_DEVICES before TensorFlow starts.
The kernel drops a lock when its process ends, however it ends, so no slot outlives its job.
"""

import fcntl
import os
import time
from pathlib import Path

from pinclass.devices import granted_gpus

SLOTS_VARIABLE = "PINCLASS_GPU_SLOTS"  # set by the Snakefile's onstart for local runs with --resources gpu=N
FOLDER = ".snakemake/gpu_slots"
_HELD = []  # open lock files: a slot stays claimed while this process lives


def slot_devices(slots: int, environ=os.environ) -> list[str]:
    """The device id of each slot."""
    visible = list(granted_gpus(environ))
    if not visible:
        return [str(i) for i in range(slots)]
    if len(visible) < slots:
        raise RuntimeError(f"--resources gpu={slots} declares {slots} GPUs, but CUDA_VISIBLE_DEVICES="
                           f"{environ['CUDA_VISIBLE_DEVICES']} lists {len(visible)}")
    return visible[:slots]


def claim(count: int, slots: int, folder=FOLDER, environ=os.environ, poll_s: float = 0.5,
          timeout_s: float = 3600) -> list[str]:
    """Claim `count` free slots of `slots` (waiting while others hold them) and return their device ids."""
    if count > slots:
        raise RuntimeError(f"a job asks for {count} GPUs, but only {slots} are declared (--resources gpu={slots})")
    devices = slot_devices(slots, environ)
    Path(folder).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        taken = []
        for slot in range(slots):
            handle = open(Path(folder) / f"{slot}.lock", "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            taken.append((slot, handle))
            if len(taken) == count:
                _HELD.extend(handle for _, handle in taken)
                return [devices[slot] for slot, _ in taken]
        for _, handle in taken:  # not enough free now: give back what was taken, wait, try again
            handle.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {count} of {slots} GPU slots came free in {timeout_s:.0f} s ({folder})")
        time.sleep(poll_s)


def assign(count: int, environ=os.environ, folder=FOLDER) -> str | None:
    """For a local job on a workstation with declared GPU slots: claim `count` slots and set
    CUDA_VISIBLE_DEVICES to them. Returns the ids set, or None where slots do not apply (no slots
    declared: SLURM jobs, whose GPUs SLURM sets, and runs without --resources gpu)."""
    slots = int(environ.get(SLOTS_VARIABLE) or 0)
    if not slots:
        return None
    ids = ",".join(claim(count, slots, folder, environ)) if count else ""
    environ["CUDA_VISIBLE_DEVICES"] = ids  # a job that asked for no GPU gets none
    return ids
