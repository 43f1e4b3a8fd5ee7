"""A bad config stops with one clear message naming the key."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, small_config
from pinclass.config import ConfigError, validate_config


def paper_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_the_papers_config_is_valid_and_gets_defaults():
    config = validate_config(paper_config())
    assert len(config["categories"]) == 32 and config["exclude_categories"] == ["none", "other"]
    assert config["sample"] == {"per_category": 1000, "test_fraction": 0.2, "folds": 5, "seed": 20231,
                                "allow_fewer": False, "group_by": "none"}
    assert config["backbones"]["convnext_base"]["shards"] == 1
    assert (config["extract"]["runtime"], config["extract"]["precision"]) == ("tensorflow", "f32")
    # the paper's protocol by default: no near-duplicate dropped, one split, the NN on the CPU, sklearn's KNN ties
    assert (config["clean"]["near_duplicates"], config["repeats"], config["classifiers"]["nn"]["device"],
            config["classifiers"]["knn"]["tie_break"]) == ("keep", 1, "cpu", "lowest_label")
    assert config["leakage"] == {"threshold": 0.95} and config["table"] == {"intervals": True}


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["sample"].update(per_category="many"), "'sample.per_category': 'many' is not of type 'integer'"),
    (lambda c: c["sample"].update(test_fraction=1.5), "'sample.test_fraction': 1.5 is greater than or equal"),
    (lambda c: c.update(sampel={}), "'sampel' was unexpected"),
    (lambda c: c["backbones"].update(x={"model": "ResNet50", "input_size": 8}),
     "'backbones.x.input_size': 8 is less than the minimum"),
    (lambda c: c["backbones"].update(x={"input_size": 64}), "'backbones.x': 'model' is a required property"),
    (lambda c: c["backbones"].update({"a+b": {"concat": ["convnext_base", "convnext_tiny"]}}),
     "'backbones': 'a+b' does not match"),
    (lambda c: c["backbones"].update(x={"model": "ResNet50", "input_size": 64}),
     "'backbones.x.weights': 'imagenet' weights need the entry's weights file"),
    (lambda c: c["backbones"]["convnext_base"]["weights"].update(hash="abc"), "'backbones.convnext_base.weights.hash'"),
    (lambda c: c["backbones"]["convnext_base"].update(input_szie=64), "('input_szie' was unexpected)"),
    (lambda c: c.update(data={"root": None}), "config key 'data': set 'root'"),
    (lambda c: c.update(exclude_categories=["art"]), "'exclude_categories': ['art'] also listed"),
    (lambda c: c["classifiers"].update(nn={"dropuot": 0.3}), "'classifiers.nn': Additional properties are not "
                                                           "allowed ('dropuot' was unexpected)"),
    (lambda c: c["classifiers"].update(svm={}), "'classifiers': Additional properties are not allowed ('svm'"),
    (lambda c: c["classifiers"].update(lsvm={"dual": "maybe"}), "'classifiers.lsvm.dual': 'maybe' is not one of"),
    (lambda c: c["extract"].update(device="tpu"), "'extract.device': 'tpu' is not one of ['auto', 'gpu', 'cpu']"),
    (lambda c: c["extract"].update(device="gpu", gpus=0), "'extract.gpus': extract.device 'gpu' needs at least 1"),
    (lambda c: c["extract"].update(device="cpu", mixed_precision=True), "'extract.mixed_precision': float16 runs on"),
    (lambda c: c["extract"].update(runtime="onnx"), "'extract.runtime': 'onnx' is not one of ['tensorflow', 'open"),
    (lambda c: c["extract"].update(precision="bf16"), "'extract.precision': 'bf16' needs extract.runtime 'openvino'"),
    (lambda c: c["extract"].update(runtime="openvino", device="gpu"), "'extract.device': 'gpu' needs extract.runtime"),
    (lambda c: c["extract"].update(runtime="openvino", mixed_precision=True),
     "'extract.mixed_precision': float16 is TensorFlow's, on a GPU"),
])
def test_bad_values_name_the_key(mutate, message):
    config = paper_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert message in str(error.value)


def test_classifiers_take_the_schemas_order_whatever_the_overlay_order():
    config = paper_config()
    config["classifiers"] = {"nn": {}, "logreg": {}, "knn": {}}  # as a merged overlay can leave them
    assert list(validate_config(config)["classifiers"]) == ["knn", "nn", "logreg"]


def test_classifier_defaults_come_from_the_schema():
    config = validate_config(paper_config())
    assert config["classifiers"]["lsvm"] == {"grid": {"C": [0.01, 0.1, 1, 10, 100]}, "scaling": "l2",
                                             "solver": "batched", "max_iter": 1000, "tol": 0.0001, "max_gap": 0.0001,
                                             "dual": "adaptive"}
    assert config["classifiers"]["nn"]["dropout"] == 0.5 and "logreg" not in config["classifiers"]


def test_start_up_validation_imports_no_tensorflow_or_scikit_learn():
    """What rules/common.smk imports to check the config: a typo stops the run before any heavy import."""
    common = (REPO / "rules/common.smk").read_text()
    modules = re.findall(r"^from (pinclass\S*) import", common, flags=re.M)
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); import {', '.join(modules)}; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))")
    assert len(modules) >= 4
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_snakemake_stops_on_a_bad_config_with_that_message(tmp_path, snakemake_run):
    config = small_config()
    config["sample"]["folds"] = "five"
    result = snakemake_run(tmp_path, config, "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Invalid configuration: config key 'sample.folds': 'five' is not of type 'integer'" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("key, value, typed_value", [
    ("sample", {"per_category": "10"}, {"per_category": 10}),
    ("data", {"track_changes": "false"}, {"track_changes": False}),
    ("extract", {"gpus": "1"}, {"gpus": 1}),
    ("uncertainty", {"level": "0.9", "n_boot": "200"}, {"level": 0.9, "n_boot": 200}),
    ("classifiers", {"lsvm": {"dual": "true", "grid": {"C": ["0.1", "1"]}}},
     {"lsvm": {"dual": True, "grid": {"C": [0.1, 1]}}}),
    ("data", {"manifest": "null", "root": "resources/demo_crawl"}, {"manifest": None, "root": "resources/demo_crawl"}),
])
def test_strings_from_config_overrides_take_the_schemas_types(key, value, typed_value):
    """What Snakemake's --config hands over for nested values: strings (YAML's base loader)."""
    config = paper_config()
    config[key] = config[key] | value
    validated = validate_config(config)[key]
    for name, expected in typed_value.items():
        got = validated[name] if not isinstance(expected, dict) else {k: validated[name][k] for k in expected}
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, message", [
    ("ten", "'sample.per_category': 'ten' is not of type 'integer'"),
    ("1.5", "'sample.per_category': '1.5' is not of type 'integer'"),
    ("true", "'sample.per_category': 'true' is not of type 'integer'"),
])
def test_a_string_that_does_not_convert_still_stops_naming_the_key(value, message):
    config = paper_config()
    config["sample"]["per_category"] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_typed_overrides_on_snakemakes_command_line(tmp_path, snakemake_run):
    config = small_config()
    ok = snakemake_run(tmp_path, config, "-n", "--config", "sample={per_category: 8}",
                       "data={track_changes: false}", "extract={gpus: 1}")
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    bad = snakemake_run(tmp_path, config, "-n", "--config", "sample={per_category: ten}")
    assert bad.returncode != 0
    assert "config key 'sample.per_category': 'ten' is not of type 'integer'" in bad.stdout + bad.stderr
