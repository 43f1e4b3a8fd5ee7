"""Audit a results folder (pinclass.audit): a Snakemake `script:` or a command line.

    python scripts/audit.py [WORKDIR] [--out results/audit.json] [--images sample|clean|none]
    python scripts/audit.py RERUN_WORKDIR --compare ORIGINAL_WORKDIR [--tolerance NAME=VALUE ...]

Exit status 1, and one line per problem, when anything disagrees (or differs beyond tolerance).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # Snakemake adds it; a command line does not

from pinclass.atomic import write_json  # noqa: E402
from pinclass.audit import audit, main  # noqa: E402

if "snakemake" in globals():
    from pinclass.rule_io import start

    log = start(snakemake)  # noqa: F821
    report = audit(".", snakemake.params.images)  # noqa: F821
    write_json(report, snakemake.output[0])  # noqa: F821
    for line in report["problems"]:
        log.error("%s", line)
    summary = report["summary"]
    log.info("audit %s: %d checks, %d failed, %d image(s) re-hashed", "passed" if report["ok"] else "FAILED",
             summary["checks"], summary["failed"], summary["images_rehashed"])
    if not report["ok"]:
        raise SystemExit(f"audit failed with {len(report['problems'])} problem(s), first: {report['problems'][0]}")
elif __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
