import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from pinclass import code_closure
from pinclass.config import ConfigError, extracted_backbones, validate_config
from pinclass.devices import classifier_policy, extraction_policy
from pinclass.gpu_slots import SLOTS_VARIABLE
from pinclass.ingest import data_root, listing_fingerprint
from pinclass import near_duplicates
from pinclass.provenance import CODE_ROOT, resolved_packages

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None


DEMO_CRAWL = "resources/demo_crawl"
DEMO_NEW_CRAWL = "resources/demo_new_crawl"
NEAR_DUPLICATE_RULE = near_duplicates.Rule.from_config(config["clean"]).as_dict()


EXTRACTED = list(extracted_backbones(config))
NOTHING = "(?!)"  # a wildcard constraint no name matches (an empty one would match any)
FUSIONS = [name for name in config["backbones"] if name not in EXTRACTED]
PREDICT_SETS = "|".join(config["predict"]) or NOTHING


def get_weights_files():
    """The weights file names of the configured backbones (the fetch_weights wildcard's values)."""
    return [
        entry["weights"]["file"] for entry in config["backbones"].values() if "weights" in entry
    ]


localrules:
    aggregate,
    boards,
    leakage,
    summary,
    plots,
    demo_crawl,
    demo_new_crawl,
    environment,
    fetch_weights,
    merge_features,
    fuse_features,
    sample,
    ensemble,
    best_model,


wildcard_constraints:
    backbone="|".join(config["backbones"]),  # names are [A-Za-z0-9_] (schema): no escaping needed
    classifier="|".join(config["classifiers"]),
    weights_file="|".join(map(re.escape, get_weights_files())) or NOTHING,
    shard=r"\d+",
    n=r"\d+",


onstart:
    export_gpu_slots()


def export_gpu_slots():
    """Local runs with `--resources gpu=N`: tell the jobs there are N GPU slots, so that concurrent
    extraction jobs each claim GPUs of their own (pinclass/gpu_slots.py). Cluster jobs get their GPUs
    from the scheduler instead."""
    slots = workflow.global_resources.get("gpu").value
    if workflow.local_exec and isinstance(slots, int) and slots > 0:
        os.environ[SLOTS_VARIABLE] = str(slots)
    else:
        os.environ.pop(SLOTS_VARIABLE, None)


def on_attempt(base):
    """A resource that grows with each try (base, 2 x base, ...): a job that ran out of memory or
    time is resubmitted bigger (profiles/slurm: retries), not the same."""
    return lambda wildcards, attempt: base * attempt


def get_extract_gpus():
    """GPUs an extraction job asks the scheduler for: none when it runs on the CPU (extract.device
    cpu, or the OpenVINO runtime)."""
    extract = config["extract"]
    policy = extraction_policy(extract["device"], extract["runtime"])
    return 0 if policy == "cpu" else extract["gpus"]


def extracted_on(device):
    """The extracted backbones as a wildcard constraint for the extraction rules of `device` ('cpu' or
    'gpu'): rules extract and predict_extract take them when extraction asks for no GPU
    (get_extract_gpus), extract_gpu and predict_extract_gpu when it asks for some; the others match
    nothing. So a job's rule name says whether it asks for a GPU, and a SLURM profile sends the
    *_gpu rules to the GPU partition and every other job to the CPU partition."""
    asks = "gpu" if get_extract_gpus() > 0 else "cpu"
    return "|".join(EXTRACTED) if device == asks else NOTHING


def classifiers_on(device):
    """The classifiers whose classify jobs run on `device` ('cpu' or 'gpu'), as a wildcard constraint:
    rule classify takes the CPU ones, rule classify_gpu those that ask for a GPU."""
    names = [
        name
        for name, settings in config["classifiers"].items()
        if classifier_policy(settings) == device
    ]
    return "|".join(names) or NOTHING


def get_data_input():
    """The crawl folder or the manifest CSV that ingest reads."""
    return config["data"]["manifest"] or config["data"]["root"]


def get_clean_shards():
    n = config["clean"]["shards"]
    return expand("results/manifest/clean_shards/{shard}-of-{n}.parquet", shard=range(n), n=n)


FIGURES = {
    "per_class_f1": ("F1 per category", "per_class_f1"),
    "confusion": ("confusion matrix", "confusion"),
}


def get_cell_figures(pattern, wrap=None):
    """Each backbone × classifier cell's figures (the plots job's outputs) by `pattern`, cell by cell
    in get_cells' order: for each, F1 per category then the confusion matrix. wrap: `report`, to
    file them in the report."""
    files = []
    for backbone in config["backbones"]:
        for classifier in config["classifiers"]:
            for figure, (label, caption) in FIGURES.items():
                path = pattern.format(backbone=backbone, classifier=classifier, figure=figure)
                files.append(
                    path
                    if wrap is None
                    else wrap(
                        path,
                        caption=f"../report/{caption}.rst",
                        category="3. Classifiers",
                        subcategory=backbone,
                        labels={"backbone": backbone, "classifier": classifier, "figure": label},
                    )
                )
    return files


def get_final_targets():
    """Everything aggregate writes (the table in all its forms, the comparisons) and the per-cell plots."""
    return (
        list(rules.aggregate.output)
        + ["results/environment.txt", "results/summary.md"]
        + ["results/boards.csv", "results/boards.md", "results/boards.png"]
        + get_predict_targets()
        + list(rules.plots.output)
    )


def get_weights_of_file(wildcards):
    """The `weights` config entry that names this file, and its backbone's name."""
    name, entry = next(
        (name, entry)
        for name, entry in config["backbones"].items()
        if entry.get("weights", {}).get("file") == wildcards.weights_file
    )
    return {"backbone": name, **entry["weights"]}


def get_extraction_spec(wildcards):
    """What of a backbone's entry makes its features (not shards, not the paper's scores)."""
    entry = config["backbones"][wildcards.backbone]
    return {
        key: entry[key]
        for key in ("model", "preprocess", "input_size", "width", "batch_size", "weights")
        if key in entry
    }


def get_extract_input(wildcards):
    """The sample, and the ImageNet weights file the job must load (none for random weights)."""
    inputs = {"sample": "results/manifest/sample.parquet"}
    if config["weights"] != "random":  # every entry has its weights then (checked with the config)
        folder = "resources/weights" if config["weights"] == "imagenet" else config["weights"]
        inputs["weights"] = f"{folder}/{config['backbones'][wildcards.backbone]['weights']['file']}"
    return inputs


def get_cells(kind, suffix, ensembles=True):
    """Every cell's scores or predictions file: backbones × classifiers, then the ensembles."""
    return expand(
        "results/{kind}/{backbone}/{classifier}.{suffix}",
        kind=kind,
        backbone=config["backbones"],
        classifier=config["classifiers"],
        suffix=suffix,
    ) + expand(
        "results/{kind}/{ensemble}/ensemble.{suffix}",
        kind=kind,
        ensemble=config["ensembles"] if ensembles else [],
        suffix=suffix,
    )


def get_repeat_scores():
    """The score files of every backbone × classifier cell on repeats 1 … R-1 of the split."""
    return expand(
        "results/repeats/{repeat}/scores/{backbone}/{classifier}.json",
        repeat=range(1, config["repeats"]),
        backbone=config["backbones"],
        classifier=config["classifiers"],
    )


def get_ensemble_cells(wildcards, kind, suffix):
    """A file of each member cell: results/{kind}/{cell}.{suffix}."""
    return [f"results/{kind}/{cell}.{suffix}" for cell in config["ensembles"][wildcards.ensemble]]


def get_ensemble_models(wildcards, file):
    """A file of each member cell's model folder (results/models/{cell}/)."""
    return [f"results/models/{cell}/{file}" for cell in config["ensembles"][wildcards.ensemble]]


def get_fusion_members(wildcards):
    return expand(
        "results/features/{backbone}.parquet",
        backbone=config["backbones"][wildcards.fused]["concat"],
    )


def get_feature_shards(wildcards):
    n = config["backbones"][wildcards.backbone]["shards"]
    return expand(
        "results/features/shards/{backbone}/{shard}-of-{n}.parquet",
        backbone=wildcards.backbone,
        shard=range(n),
        n=n,
    )


def get_listing_fingerprint(wildcards):
    """Ingest's rerun trigger for changes inside the data (docs/reproducibility.md: "Reruns")."""
    if config["data"]["root"] == DEMO_CRAWL and not config["data"]["manifest"]:
        return "the demo crawl: tracked as the output of rule demo_crawl"
    if not config["data"]["track_changes"]:
        return "off (data.track_changes: false)"
    return listing_fingerprint(config["data"])


def code_version(script):
    """The rule's `code` param: a hash of the library modules its script imports, directly or through
    other modules (pinclass/code_closure.py), so that editing one reruns exactly the jobs of the rules
    whose results depend on it (Snakemake itself watches only the rule's own script, by mtime)."""
    return code_closure.code_version(CODE_ROOT / f"{script}.py")


def get_data_root():
    """The folder raw.parquet's paths are relative to."""
    return str(data_root(config["data"]))


PREDICT_SOURCES = ("root", "manifest", "images")


def get_predict_data(wildcards):
    """A prediction set's source (root, manifest or images): what its ingest reads."""
    entry = config["predict"][wildcards.name]
    return {key: entry[key] for key in PREDICT_SOURCES if key in entry}


def get_predict_source(wildcards):
    return next(iter(get_predict_data(wildcards).values()))


def get_predict_root(wildcards):
    return str(data_root(get_predict_data(wildcards)))


def get_predict_listing(wildcards):
    """A prediction set's rerun trigger for changes inside its data (as ingest's, data.track_changes)."""
    data = get_predict_data(wildcards)
    if data.get("root") == DEMO_NEW_CRAWL:
        return "the demo's new crawl: tracked as the output of rule demo_new_crawl"
    if not config["data"]["track_changes"]:
        return "off (data.track_changes: false)"
    return listing_fingerprint(data)


def get_predict_extract_input(wildcards):
    return get_extract_input(wildcards) | {
        "sample": f"results/predict/{wildcards.name}/clean.parquet"
    }


def get_cell_backbones(cell):
    """The extracted backbones whose features a cell's model reads: its backbone, a fusion's members,
    or those of an ensemble's cells."""
    backbone, classifier = cell.split("/")
    if classifier == "ensemble":
        members = [get_cell_backbones(member) for member in config["ensembles"][backbone]]
        return list(dict.fromkeys(name for names in members for name in names))
    return config["backbones"][backbone].get("concat", [backbone])


def get_predict_model(wildcards):
    """The cell a prediction set uses: its `model`, or for `best` the choice of checkpoint best_model."""
    model = config["predict"][wildcards.name]["model"]
    if model != "best":
        return model
    with open(checkpoints.best_model.get().output[0]) as f:
        return json.load(f)["cell"]


def get_predict_inputs(wildcards):
    cell = get_predict_model(wildcards)
    folder = f"results/predict/{wildcards.name}"
    inputs = {
        "model": f"results/models/{cell}/model.json",
        "arrays": f"results/models/{cell}/arrays.npz",
        "clean": f"{folder}/clean.parquet",
        "summary": f"{folder}/clean_summary.json",
        "features": [f"{folder}/features/{name}.parquet" for name in get_cell_backbones(cell)],
    }
    if config["predict"][wildcards.name]["model"] == "best":
        inputs["best"] = checkpoints.best_model.get().output[0]
    return inputs


def get_predict_targets():
    return expand(
        "results/predict/{name}/{file}",
        name=config["predict"],
        file=["pins.parquet", "boards.parquet", "summary.md"],
    )
