"""Typed run configuration and the names it may use: the schema (schema.py), dotted keys (keys.py), loading
(load.py), validation (checks.py), the training keys that are a run's identity (training.py), the --help listing
(help.py), the one registry of methods, sections, network families, extractors, metrics and sources
(registry.py), presets (presets.py), dataset cards (cards.py) and where shards are (locations.py). No torch.
The schema, keys and loading are importable from ``harness.config`` itself, as are the registry's entry types
(``MethodEntry``, ``SectionEntry``, ...) a plugin declares itself with."""

from harness.config.checks import _check_finite, validate
from harness.config.help import help_text
from harness.config.keys import (
    _closest,
    _coerce,
    _fields,
    _flatten,
    _leaves,
    _resolved_types,
    _section_names,
    _set,
    all_keys,
    bounds,
    get,
    parse_override,
)
from harness.config.load import (
    PIPE_ENV,
    PIPE_KEYS,
    _read_tree,
    build_config,
    from_dict,
    load_yaml,
    pipe_allowed,
    read_yaml_text,
    to_dict,
)
from harness.config.registry import (
    ArchEntry,
    ExtractorEntry,
    MethodEntry,
    MetricEntry,
    SectionEntry,
    SourceEntry,
)
from harness.config.schema import (
    ADAM_IMPLS,
    COMPILE_MODES,
    SHARED_SECTIONS,
    Config,
    DataConfig,
    EvalConfig,
    LogConfig,
    ModelConfig,
    RuntimeConfig,
    TrainConfig,
    opt,
    plugin_sections,
)
from harness.config.training import (
    LATE_TRAINING_KEYS,
    SCHEDULE_KEYS,
    digest,
    is_training_key,
    training_config,
    training_hash,
)
from harness.core.errors import MAX_YAML_BYTES, ConfigError

__all__ = [
    "MethodEntry",
    "SectionEntry",
    "ArchEntry",
    "ExtractorEntry",
    "MetricEntry",
    "SourceEntry",
    "ConfigError",
    "MAX_YAML_BYTES",
    "ADAM_IMPLS",
    "COMPILE_MODES",
    "opt",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "EvalConfig",
    "LogConfig",
    "RuntimeConfig",
    "Config",
    "plugin_sections",
    "SHARED_SECTIONS",
    "_fields",
    "_resolved_types",
    "_leaves",
    "all_keys",
    "bounds",
    "_closest",
    "_coerce",
    "_set",
    "_section_names",
    "_flatten",
    "parse_override",
    "get",
    "PIPE_KEYS",
    "PIPE_ENV",
    "pipe_allowed",
    "read_yaml_text",
    "_read_tree",
    "load_yaml",
    "build_config",
    "to_dict",
    "from_dict",
    "_check_finite",
    "validate",
    "SCHEDULE_KEYS",
    "is_training_key",
    "LATE_TRAINING_KEYS",
    "training_config",
    "digest",
    "training_hash",
    "help_text",
]
