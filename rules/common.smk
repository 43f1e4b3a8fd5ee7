import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from pinclass.config import ConfigError, validate_config
from pinclass.ingest import data_root

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None


localrules:
    demo_crawl,
    sample,


wildcard_constraints:
    shard=r"\d+",
    n=r"\d+",


def get_data_input():
    """The crawl folder or the manifest CSV that ingest reads."""
    return config["data"]["manifest"] or config["data"]["root"]


def get_clean_shards():
    n = config["clean"]["shards"]
    return expand("results/manifest/clean_shards/{shard}-of-{n}.parquet", shard=range(n), n=n)


def get_final_targets():
    return ["results/manifest/sample.parquet"]


def get_data_root():
    """The folder raw.parquet's paths are relative to."""
    return str(data_root(config["data"]))
