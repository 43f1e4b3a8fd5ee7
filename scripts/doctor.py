import sys

from pinclass.gpu_slots import assign
from pinclass.rule_io import start

log = start(snakemake)
# Before TensorFlow starts, as extraction does: the GPUs this job was granted (SLURM's, or a
# workstation's GPU slot) are the ones the doctor looks at.
claimed = assign(snakemake.resources.get("gpu", 0))
if claimed is not None:
    log.info("GPU slots claimed: CUDA_VISIBLE_DEVICES=%r", claimed)

from pinclass.doctor import run  # noqa: E402

status = run(policy=snakemake.params.device, seconds=snakemake.params.seconds, threads=snakemake.threads,
             output=snakemake.output[0], echo=log.info)
if status:
    log.error("a GPU was expected (extract.device %r) but none works: see the Verdict line above",
              snakemake.params.device)
sys.exit(status)
