"""Config validation against schemas/config.schema.yaml, with defaults filled in."""

import copy
from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
CONFIG = SCHEMA.parents[1] / "config.yaml"


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
    expected = error.schema.get("description", "").strip()
    message = f"config key '{key}': {error.message}"
    return f"{message} ({expected})" if expected else message


def _load(schema_path: Path) -> dict:
    return yaml.safe_load(Path(schema_path).read_text())


def _check(instance, schema: dict, prefix: tuple = ()) -> None:
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        error.path.extendleft(reversed(prefix))
        raise ConfigError(_describe(error))


SCALARS = {"integer": int, "number": (int, float), "boolean": bool, "null": type(None)}


def _resolve(schema: dict, root: dict, instance) -> dict:
    """The schema that applies to `instance`: $refs followed, an if/then/else decided."""
    while True:
        if "$ref" in schema:
            schema = {k: v for k, v in schema.items() if k != "$ref"} | root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
        elif "if" in schema:
            branch = "then" if jsonschema.Draft202012Validator(schema["if"]).is_valid(instance) else "else"
            schema = {k: v for k, v in schema.items() if k not in ("if", "then", "else")} | schema.get(branch, {})
        else:
            return schema


def _from_string(value: str, schema: dict):
    """A --config string as the type its schema declares (integer, number, boolean, null, or a
    non-string member of an enum), read as YAML reads it; a string without a declared type (a grid's
    values) as YAML would have typed it in a config file; otherwise the string itself, which
    validation then judges."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "enum" in schema:
        return parsed if parsed in schema["enum"] and value not in schema["enum"] else value
    if not types:
        return parsed if isinstance(parsed, (int, float, bool, type(None))) else value
    if "string" in types:  # a string, unless YAML reads null where null is allowed (manifest: null)
        return None if parsed is None and "null" in types else value
    wanted = tuple(SCALARS[name] for name in types if name in SCALARS)
    if wanted and isinstance(parsed, wanted) and not (isinstance(parsed, bool) and bool not in wanted):
        return parsed
    return value


def typed(instance, schema: dict, root: dict | None = None):
    """`instance` with the strings that Snakemake's --config leaves in nested values (it reads them
    with YAML's base loader: `--config sample='{per_category: 10}'` gives '10') converted to the
    types the schema declares. Values of other types are left as they are."""
    root = schema if root is None else root
    schema = _resolve(schema, root, instance)
    if isinstance(instance, str):
        return _from_string(instance, schema)
    if isinstance(instance, dict):
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {key: typed(value, properties.get(key, extra if isinstance(extra, dict) else {}), root)
                for key, value in instance.items()}
    if isinstance(instance, list):
        return [typed(value, schema.get("items", {}), root) for value in instance]
    return instance


def classifier_settings(name: str, settings: dict | None = None, schema_path: Path = SCHEMA) -> dict:
    """A classifier's settings: `settings` over its defaults, checked against its schema entry (the
    one home of both), for code that runs a classifier without the workflow's config."""
    schema = _load(schema_path)
    entries = schema["properties"]["classifiers"]["properties"]
    if name not in entries:
        raise ConfigError(f"config key 'classifiers': unknown classifier {name!r}; known: {sorted(entries)}")
    settings = copy.deepcopy(dict(settings or {}))
    _check(settings, entries[name] | {"$defs": schema["$defs"]}, ("classifiers", name))
    return settings


def validate_config(config: dict, schema_path: Path = SCHEMA) -> dict:
    """Validate `config` in place, fill defaults, and return it; raise ConfigError on the first problem.
    Classifiers are put in the schema's order (the paper's: knn, lsvm, nn, then ours): a config overlay
    that names one (demo/config.yaml: nn) moves it first in Snakemake's merge, and the table's columns
    follow this order."""
    schema = _load(schema_path)
    config.update(typed(config, schema))
    _check(config, schema)
    order = list(schema["properties"]["classifiers"]["properties"])
    config["classifiers"] = {name: config["classifiers"][name] for name in order if name in config["classifiers"]}
    if not (config["data"].get("root") or config["data"].get("manifest")):
        raise ConfigError("config key 'data': set 'root' (a crawl folder) or 'manifest' (a CSV file)")
    unknown = set(config["exclude_categories"]) & set(config["categories"])
    if unknown:
        raise ConfigError(f"config key 'exclude_categories': {sorted(unknown)} also listed in 'categories'")
    for name, entry in config["backbones"].items():
        for member in entry.get("concat", []):
            if "model" not in config["backbones"].get(member, {}):
                raise ConfigError(f"config key 'backbones.{name}.concat': {member!r} is not a backbone of this config "
                                  "(a fusion concatenates backbones, not other fusions)")
    if config["weights"] != "random":
        for name, entry in extracted_backbones(config).items():
            if "weights" not in entry:
                raise ConfigError(f"config key 'backbones.{name}.weights': {config['weights']!r} weights need the "
                                  "entry's weights file (file, url, hash); or set weights: random")
    for name, cells in config["ensembles"].items():
        if name in config["backbones"]:
            raise ConfigError(f"config key 'ensembles.{name}': the name is a backbone's too")
        for cell in cells:
            backbone, classifier = cell.split("/")
            if backbone not in config["backbones"] or classifier not in config["classifiers"]:
                raise ConfigError(f"config key 'ensembles.{name}': {cell!r} is not a cell of this config "
                                  f"(backbones × classifiers)")
    cells = {f"{b}/{c}" for b in config["backbones"] for c in config["classifiers"]}
    cells |= {f"{name}/ensemble" for name in config["ensembles"]}
    for name, entry in config["predict"].items():
        if entry["model"] != "best" and entry["model"] not in cells:
            raise ConfigError(f"config key 'predict.{name}.model': {entry['model']!r} is not a cell of this config "
                              "(best, <backbone>/<classifier> or <ensemble>/ensemble)")
        if entry["top"] > len(config["categories"]):
            raise ConfigError(f"config key 'predict.{name}.top': {entry['top']} is more than the "
                              f"{len(config['categories'])} categories")
    extract = config["extract"]
    if extract["device"] == "gpu" and extract["gpus"] < 1:
        raise ConfigError("config key 'extract.gpus': extract.device 'gpu' needs at least 1 GPU per job")
    if extract["device"] == "cpu" and extract["mixed_precision"]:
        raise ConfigError("config key 'extract.mixed_precision': float16 runs on a GPU only, and "
                          "extract.device is 'cpu'")
    if extract["runtime"] == "openvino" and extract["device"] == "gpu":
        raise ConfigError("config key 'extract.device': 'gpu' needs extract.runtime 'tensorflow'; the "
                          "'openvino' runtime runs on the CPU (use device auto or cpu)")
    if extract["runtime"] == "openvino" and extract["mixed_precision"]:
        raise ConfigError("config key 'extract.mixed_precision': float16 is TensorFlow's, on a GPU; with "
                          "extract.runtime 'openvino' choose extract.precision (f32 or bf16)")
    if extract["runtime"] == "tensorflow" and extract["precision"] != "f32":
        raise ConfigError(f"config key 'extract.precision': {extract['precision']!r} needs extract.runtime "
                          "'openvino'; TensorFlow runs float32 (float16 on a GPU: extract.mixed_precision)")
    return config


def extracted_backbones(config: dict) -> dict:
    """The backbones whose features are extracted (every entry but the fusions)."""
    return {name: entry for name, entry in config["backbones"].items() if "concat" not in entry}


def repository_config() -> dict:
    """The repository's config.yaml, validated, with defaults (for benchmarks and tools)."""
    return validate_config(yaml.safe_load(CONFIG.read_text()))
