"""Config validation against schemas/config.schema.yaml, with defaults filled in."""

from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message names the key."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = sub["default"]
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _describe(error) -> str:
    if not error.absolute_path:
        return f"config: {error.message}"
    key = ".".join(str(p) for p in error.absolute_path)
    expected = error.schema.get("description", "")
    message = f"config key '{key}': {error.message}"
    return f"{message} ({expected})" if expected else message


def validate_config(config: dict, schema_path: Path = SCHEMA) -> dict:
    """Validate `config` in place, fill defaults, and return it; raise ConfigError on the first problem."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(_describe(error))
    if not (config["data"].get("root") or config["data"].get("manifest")):
        raise ConfigError("config key 'data': set 'root' (a crawl folder) or 'manifest' (a CSV file)")
    unknown = set(config["exclude_categories"]) & set(config["categories"])
    if unknown:
        raise ConfigError(f"config key 'exclude_categories': {sorted(unknown)} also listed in 'categories'")
    extract = config["extract"]
    if extract["device"] == "gpu" and extract["gpus"] < 1:
        raise ConfigError("config key 'extract.gpus': extract.device 'gpu' needs at least 1 GPU per job")
    if extract["device"] == "cpu" and extract["mixed_precision"]:
        raise ConfigError("config key 'extract.mixed_precision': float16 runs on a GPU only, and "
                          "extract.device is 'cpu'")
    return config
