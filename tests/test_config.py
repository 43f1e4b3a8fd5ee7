"""A bad config stops with one clear message naming the key."""

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
                                "allow_fewer": False}
    assert config["backbones"]["convnext_base"]["shards"] == 1


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["sample"].update(per_category="many"), "'sample.per_category': 'many' is not of type 'integer'"),
    (lambda c: c["sample"].update(test_fraction=1.5), "'sample.test_fraction': 1.5 is greater than or equal"),
    (lambda c: c.update(sampel={}), "'sampel' was unexpected"),
    (lambda c: c["backbones"].update(x={"input_size": 8}), "'backbones.x.input_size': 8 is less than the minimum"),
    (lambda c: c.update(data={"root": None}), "config key 'data': set 'root'"),
    (lambda c: c.update(exclude_categories=["art"]), "'exclude_categories': ['art'] also listed"),
])
def test_bad_values_name_the_key(mutate, message):
    config = paper_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert message in str(error.value)


def test_snakemake_stops_on_a_bad_config_with_that_message(tmp_path, snakemake_run):
    config = small_config()
    config["sample"]["folds"] = "five"
    result = snakemake_run(tmp_path, config, "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Invalid configuration: config key 'sample.folds': 'five' is not of type 'integer'" in output
    assert "Traceback" not in output
