"""What every rule script does first: send its output to the rule's log."""

import logging
import sys


def start(snakemake) -> logging.Logger:
    """Redirect stderr to the rule's log and return a logger writing there with timestamps."""
    if snakemake.log:
        sys.stderr = open(snakemake.log[0], "w", buffering=1)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(message)s")
    return logging.getLogger(snakemake.rule)


def params_dict(snakemake) -> dict:
    """The rule's params as a plain dict: the config values this job used, for provenance."""
    return {name: value for name, value in snakemake.params.items()}
