#!/usr/bin/env python3
"""Validate every task's module arguments against the module's DOCUMENTATION.

ansible-lint's ``args`` rule returns early for every PowerShell (``.ps1``) module, so a
misspelled option of ``ansible.windows.win_package`` passes lint and only fails on a
Windows host. This check closes that gap, for Windows and Python modules alike:

* it walks the YAML task files of ``roles/*/tasks``, ``roles/*/handlers``, ``playbooks/``
  and ``molecule/*/`` (plays, ``pre_tasks``/``tasks``/``post_tasks``/``handlers``, and
  ``block``/``rescue``/``always`` at any depth; include/import targets are not followed,
  every file is walked anyway, but the include/import task's own arguments are checked);
* it finds each task's module with ansible's own ``ModuleArgsParser`` (FQCN or short name,
  ``action:``/``local_action:``, ``k=v`` strings, free-form text, ``args:``);
* it loads the module's documentation with ansible's plugin loader: the ``.py``/``.yml``
  sidecar of a ``.ps1`` module, the module file itself otherwise, with doc fragments
  merged by ansible (``extends_documentation_fragment``);
* it reports unknown options (aliases are known), missing required options, literal values
  outside ``choices`` and literal values of the wrong ``type`` (ansible's conversion rules
  for bool/int/float/list/dict; Jinja-templated values are not checked), and modules that
  cannot be resolved at all.

Output: ``path:line: module: message`` per error and a summary line; exit status 1 on any
error. Run from the repository root (``library`` from ``ansible.cfg`` is honoured) or pass
``--root``.

What it does not see: rules that exist only in a module's code (mutually_exclusive,
required_if, required_one_of), values that are only known after templating, and the
arguments ``module_defaults`` gives (they count towards required options, but are not
checked themselves; with ``group/...`` defaults in scope, missing-required errors are
not reported). Options documented without a ``type`` are checked for choices only. The
documentation is the reference: where a module's DOCUMENTATION and its argument spec
disagree, this check follows the documentation (as ansible-doc users do).
"""

from __future__ import annotations

import argparse
import configparser
import difflib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE, boolean
from ansible.parsing.mod_args import RAW_PARAM_MODULES, ModuleArgsParser
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.playbook.handler import Handler
from ansible.playbook.task import Task
from ansible.plugins.loader import action_loader, fragment_loader, init_plugin_loader, module_loader
from ansible.utils.plugin_docs import get_plugin_docs

try:  # ansible-core >= 2.19 tags every loaded value with its origin (path, line, column)
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover - older cores keep the position in ``ansible_pos``
    Origin = None

Kind = Literal["tasks", "playbook", "auto"]

YAML_SUFFIXES = (".yml", ".yaml")

# Keys that make a task a block; they hold task lists, never module arguments.
BLOCK_KEYS = ("block", "rescue", "always")
PLAY_TASK_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
PLAY_MARKERS = frozenset({"hosts", "import_playbook", "ansible.builtin.import_playbook"})

# Every key a task may carry besides its module: task and handler keywords, the legacy
# ``local_action``/``static`` and ``with_<lookup>`` loops (checked separately).
TASK_KEYWORDS = frozenset(Task.fattributes) | frozenset(Handler.fattributes) | {"local_action", "static"}

# Directories under playbooks/ and molecule/<scenario>/ whose YAML is not tasks or plays.
NON_TASK_DIRS = frozenset(
    {
        "files",
        "templates",
        "vars",
        "defaults",
        "group_vars",
        "host_vars",
        "meta",
        "library",
        "module_utils",
        "filter_plugins",
        "inventory",
        "inventories",
        "__pycache__",
    }
)

# Documentation-only option names that stand for the free-form text of a task
# (``ansible.builtin.command: echo hi`` arrives as ``_raw_params``). A module never
# accepts them by name.
FREE_FORM_DOC_OPTIONS = frozenset({"free_form", "free-form"})

# Modules that accept keys their DOCUMENTATION cannot list. ``key_value`` is how their
# docs describe those keys; it is satisfied by any undocumented key.
ARBITRARY_KEY_MODULES: Mapping[str, str] = {
    # every key other than ``cacheable`` becomes a host fact
    "ansible.builtin.set_fact": "key_value",
    # keys other than name/groups (and their aliases) become variables of the new host
    "ansible.builtin.add_host": "",
}
# Not in the allow-list on purpose: ansible.builtin.include_vars and ansible.builtin.group_by
# document every key they accept (free-form text included), so their keys are checked.

# Keys ModuleArgsParser or action plugins add that never come from the task author.
INTERNAL_ARG_KEYS = frozenset({"_uses_shell"})


@dataclass(frozen=True)
class Finding:
    """One error at one place of one task file."""

    path: str
    line: int
    module: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module}: {self.message}"


@dataclass
class Report:
    """Errors plus what was looked at, for the summary line and the tests."""

    findings: list[Finding] = field(default_factory=list)
    calls: int = 0
    files: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)
        self.calls += other.calls
        self.files += other.files

    def summary(self) -> str:
        return f"checked {self.calls} module calls in {self.files} files: {len(self.findings)} errors"


@dataclass(frozen=True)
class ModuleSpec:
    """What the documentation of one module says about its arguments."""

    fqcn: str
    doc_path: str
    options: Mapping[str, Mapping[str, Any]]
    windows: bool
    free_form_option: str | None
    accepts_raw_params: bool
    arbitrary_keys: bool
    arbitrary_keys_option: str | None


@dataclass(frozen=True)
class TaskContext:
    """A task mapping together with what its play and blocks contribute."""

    task: Mapping[Any, Any]
    collections: tuple[str, ...] = ()
    module_defaults: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TaskFile:
    path: Path
    kind: Kind


class _ArgumentIssue(Exception):
    """A literal value that does not convert to the documented type."""


# --------------------------------------------------------------------------- positions


def line_of(obj: object, default: int = 1) -> int:
    """Line number (1-based) where a value loaded by AnsibleLoader starts."""
    if Origin is not None:
        tag = Origin.get_tag(obj)
        if tag is not None and tag.line_num:
            return int(tag.line_num)
    pos = getattr(obj, "ansible_pos", None)
    if isinstance(pos, tuple) and len(pos) == 3:
        return int(pos[1])
    return default


def column_of(obj: object, default: int = 1) -> int:
    """Column number (1-based) where a value loaded by AnsibleLoader starts."""
    if Origin is not None:
        tag = Origin.get_tag(obj)
        if tag is not None and tag.col_num:
            return int(tag.col_num)
    pos = getattr(obj, "ansible_pos", None)
    if isinstance(pos, tuple) and len(pos) == 3:
        return int(pos[2])
    return default


def load_yaml(path: Path) -> Any:
    """Load one YAML document with ansible's loader, which keeps line numbers."""
    # ansible records the stream's name as the origin and requires it to be absolute
    with path.resolve().open(encoding="utf-8") as stream:
        return AnsibleLoader(stream).get_single_data()


def is_templated(value: object) -> bool:
    """True for strings whose value is only known after Jinja templating."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


# --------------------------------------------------------------------------- discovery


def _yaml_files(base: Path, skip_dirs: frozenset[str]) -> Iterator[Path]:
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*")):
        if path.suffix not in YAML_SUFFIXES or not path.is_file():
            continue
        parts = path.relative_to(base).parts[:-1]
        if any(part.startswith(".") or part in skip_dirs for part in parts):
            continue
        yield path


def discover_task_files(root: Path) -> list[TaskFile]:
    """Every YAML file of the repository that may hold tasks or plays."""
    found: list[TaskFile] = []
    for role in sorted((root / "roles").glob("*")):
        for sub in ("tasks", "handlers"):
            found.extend(TaskFile(path, "tasks") for path in _yaml_files(role / sub, frozenset()))
    found.extend(TaskFile(path, "auto") for path in _yaml_files(root / "playbooks", NON_TASK_DIRS))
    for scenario in sorted((root / "molecule").glob("*")):
        if scenario.is_dir() and not scenario.name.startswith("."):
            found.extend(TaskFile(path, "auto") for path in _yaml_files(scenario, NON_TASK_DIRS))
    return found


def _is_play(item: object) -> bool:
    return isinstance(item, Mapping) and any(str(key) in PLAY_MARKERS for key in item)


def classify(data: object, path: Path, kind: Kind) -> Literal["tasks", "playbook", "skip"]:
    """Decide whether a loaded file is a task list, a playbook, or neither."""
    if not isinstance(data, list) or not data:
        return "skip"
    if kind == "tasks":
        return "tasks"
    if any(_is_play(item) for item in data):
        return "playbook"
    if kind == "playbook":
        return "playbook"
    # Under molecule/ only tasks/ and handlers/ directories (and playbooks/) hold task
    # lists; other lists there (requirements.yml, collections.yml) are not Ansible tasks.
    if "molecule" in path.parts and not {"tasks", "handlers"} & set(path.parts):
        return "skip"
    return "tasks"


def _as_tuple(value: object) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(value)
    return (value,)


def collection_list(value: object) -> tuple[str, ...]:
    """A ``collections`` keyword as ansible searches it (ansible.legacy always included)."""
    names = [str(name) for name in _as_tuple(value)]
    if names and "ansible.builtin" not in names and "ansible.legacy" not in names:
        names.append("ansible.legacy")
    return tuple(names)


def iter_tasks(
    items: object,
    collections: tuple[str, ...] = (),
    module_defaults: tuple[Any, ...] = (),
) -> Iterator[TaskContext]:
    """Yield every task of a task list, descending into block/rescue/always."""
    if not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, Mapping) and any(key in item for key in BLOCK_KEYS):
            scope = module_defaults + _as_tuple(item.get("module_defaults"))
            for key in BLOCK_KEYS:
                yield from iter_tasks(item.get(key), collections, scope)
            continue
        yield TaskContext(item, collections, module_defaults)


def iter_play_tasks(plays: list[Any]) -> Iterator[TaskContext]:
    """Yield every task of a playbook (and each import_playbook entry as a task)."""
    for play in plays:
        if not isinstance(play, Mapping):
            yield TaskContext(play)
            continue
        if not any(str(key) in ("hosts",) for key in play):
            # import_playbook entry: its own argument (the playbook file) is checked
            yield TaskContext(play)
            continue
        collections = collection_list(play.get("collections"))
        defaults = _as_tuple(play.get("module_defaults"))
        for key in PLAY_TASK_KEYS:
            yield from iter_tasks(play.get(key), collections, defaults)


def role_collections(path: Path) -> tuple[str, ...]:
    """The ``collections`` keyword of the role that owns a tasks/handlers file."""
    parts = path.parts
    if "roles" not in parts:
        return ()
    index = len(parts) - 1 - parts[::-1].index("roles")
    if index + 1 >= len(parts):
        return ()
    role_dir = Path(*parts[: index + 2])
    for name in ("main.yml", "main.yaml"):
        meta = role_dir / "meta" / name
        if meta.is_file():
            try:
                data = load_yaml(meta)
            except (OSError, yaml.YAMLError, AnsibleError):
                return ()
            if isinstance(data, Mapping):
                return collection_list(data.get("collections"))
    return ()


def load_task_file(task_file: TaskFile) -> tuple[Literal["tasks", "playbook", "skip"], Any]:
    """Load and classify one file; raises yaml/ansible errors for broken YAML."""
    data = load_yaml(task_file.path)
    return classify(data, task_file.path, task_file.kind), data


def file_tasks(task_file: TaskFile) -> tuple[Literal["tasks", "playbook", "skip"], list[TaskContext]]:
    """Classify one file and list its tasks (none for files that hold neither).

    Raises yaml.YAMLError / AnsibleError / OSError for files that cannot be loaded.
    """
    kind, data = load_task_file(task_file)
    if kind == "playbook":
        return kind, list(iter_play_tasks(data))
    if kind == "tasks":
        return kind, list(iter_tasks(data, role_collections(task_file.path)))
    return kind, []


# --------------------------------------------------------------------------- ansible setup


_LOADER_READY: dict[str, bool] = {"collections": False}


def _config_paths(root: Path, key: str) -> list[Path]:
    cfg_path = root / "ansible.cfg"
    if not cfg_path.is_file():
        return []
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(cfg_path, encoding="utf-8")
    except configparser.Error:
        return []
    raw = parser.get("defaults", key, fallback="")
    paths = []
    for entry in raw.split(":"):
        entry = entry.strip()
        if entry:
            candidate = Path(entry).expanduser()
            paths.append(candidate if candidate.is_absolute() else root / candidate)
    return paths


def configure_ansible(root: Path) -> None:
    """Point ansible's plugin loaders at the repository's library and doc fragments.

    ``library`` (and ``action_plugins``/``doc_fragment_plugins``/``collections_path``) are read from
    ``<root>/ansible.cfg`` and resolved against it, like ansible resolves them, so the
    result does not depend on the working directory. Role and playbook ``library/``
    directories are added too, as ansible does when it loads those roles and playbooks.
    """
    if not _LOADER_READY["collections"]:
        prefixes = [
            str(path)
            for key in ("collections_path", "collections_paths")
            for path in _config_paths(root, key)
        ]
        init_plugin_loader(prefixes or None)
        _LOADER_READY["collections"] = True
    module_dirs = _config_paths(root, "library")
    module_dirs += [*sorted(root.glob("roles/*/library")), root / "playbooks" / "library"]
    module_dirs += sorted(root.glob("molecule/*/library"))
    for directory in module_dirs:
        if directory.is_dir():
            module_loader.add_directory(str(directory))
    for directory in _config_paths(root, "doc_fragment_plugins"):
        if directory.is_dir():
            fragment_loader.add_directory(str(directory))
    # ModuleArgsParser accepts a task key that names an action plugin, so the repository's
    # action plugins must be known too (their modules still need DOCUMENTATION).
    for directory in [*_config_paths(root, "action_plugins"), *sorted(root.glob("roles/*/action_plugins"))]:
        if directory.is_dir():
            action_loader.add_directory(str(directory))


# --------------------------------------------------------------------------- documentation


class ModuleDocs:
    """Resolves module names and caches their documentation."""

    def __init__(self) -> None:
        self._specs: dict[str, ModuleSpec] = {}
        self._names: dict[str, str | None] = {}

    def resolve(self, name: str, collections: Sequence[str] = ()) -> str | None:
        """FQCN of a module or action name, None if ansible cannot find it."""
        cache_key = f"{name}|{','.join(collections)}"
        if cache_key not in self._names:
            context = module_loader.find_plugin_with_context(name, collection_list=list(collections) or None)
            self._names[cache_key] = context.resolved_fqcn if context.resolved else None
        return self._names[cache_key]

    def spec(self, fqcn: str) -> ModuleSpec:
        """Documentation of a resolved module; raises AnsibleError when it has none."""
        if fqcn not in self._specs:
            self._specs[fqcn] = self._load(fqcn)
        return self._specs[fqcn]

    @staticmethod
    def _load(fqcn: str) -> ModuleSpec:
        doc = get_plugin_docs(fqcn, "module", module_loader, fragment_loader, False)[0]
        context = module_loader.find_plugin_with_context(fqcn)
        resolved_path = str(context.plugin_resolved_path or "")
        options: dict[str, Mapping[str, Any]] = {
            str(name): (dict(opt) if isinstance(opt, Mapping) else {})
            for name, opt in (doc.get("options") or {}).items()
        }
        free_form = next((name for name in options if name in FREE_FORM_DOC_OPTIONS), None)
        arbitrary_option = ARBITRARY_KEY_MODULES.get(fqcn)
        return ModuleSpec(
            fqcn=fqcn,
            doc_path=str(doc.get("filename", "")),
            options=options,
            windows=resolved_path.endswith(".ps1"),
            free_form_option=free_form,
            accepts_raw_params=free_form is not None or "_raw_params" in options or fqcn in RAW_PARAM_MODULES,
            arbitrary_keys=arbitrary_option is not None,
            arbitrary_keys_option=arbitrary_option or None,
        )


# --------------------------------------------------------------------------- value checks


def _type_name(value: object) -> str:
    """YAML-level type name (ansible wraps loaded values in tagged subclasses)."""
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__


def _describe(value: object) -> str:
    text = repr(str(value)) if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{_type_name(value)} {text}"


def convert(type_name: str, value: Any, windows: bool) -> Any:
    """Convert a literal like the module would; raise _ArgumentIssue when it cannot.

    Python modules follow ``ansible.module_utils.common.validation``; Windows modules
    follow ``Ansible.Basic`` (C#), which is stricter for int/list (no float) and turns
    a list given for a string into ``System.Collections.ArrayList``. Both silently turn
    a list or mapping given for a string into nonsense, so that is reported for both.
    """
    if type_name in ("str", "path", "sid"):
        if isinstance(value, (list, dict)):
            raise _ArgumentIssue("a list or mapping is turned into one string")
        if isinstance(value, bool):
            raise _ArgumentIssue("YAML read an unquoted yes/no/true/false as a boolean; quote it")
        return value if isinstance(value, str) else str(value)
    if type_name == "bool":
        try:
            return boolean(value, strict=True)
        except TypeError as exc:
            raise _ArgumentIssue("not a boolean") from exc
    if type_name == "int":
        if isinstance(value, bool):
            raise _ArgumentIssue("a boolean is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and not windows and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError as exc:
                raise _ArgumentIssue("not an integer") from exc
        raise _ArgumentIssue("not an integer")
    if type_name == "float":
        if isinstance(value, bool):
            raise _ArgumentIssue("a boolean is not a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError as exc:
                raise _ArgumentIssue("not a number") from exc
        raise _ArgumentIssue("not a number")
    if type_name == "list":
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [part.strip() for part in value.split(",")] if windows else value.split(",")
        if isinstance(value, int) and not isinstance(value, bool):
            return [value] if windows else [str(value)]
        if isinstance(value, float) and not windows:
            return [str(value)]
        raise _ArgumentIssue("not a list")
    if type_name == "dict":
        if isinstance(value, dict):
            return value
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                try:
                    loaded = json.loads(text)
                except ValueError as exc:
                    raise _ArgumentIssue("a string starting with '{' must be JSON") from exc
                if isinstance(loaded, dict):
                    return loaded
                raise _ArgumentIssue("JSON text is not an object")
            if "=" in text:
                return value
        raise _ArgumentIssue("not a mapping")
    if type_name in ("json", "jsonarg"):
        if isinstance(value, (str, dict, list)):
            return value
        raise _ArgumentIssue("not JSON text, a list or a mapping")
    if type_name in ("bytes", "bits"):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _ArgumentIssue("not a size")
        return value
    # raw, and any type the documentation names that ansible does not check
    return value


def _choice_values(choices: object) -> list[Any]:
    if isinstance(choices, Mapping):
        return list(choices)
    if isinstance(choices, list):
        return list(choices)
    return []


def in_choices(value: Any, choices: Sequence[Any], windows: bool) -> bool:
    """Choice membership after type conversion (case-insensitive for Windows modules)."""
    if isinstance(value, bool):
        if value in [choice for choice in choices if isinstance(choice, bool)]:
            return True
        # ansible maps a YAML boolean back onto a yes/no/true/false choice
        spellings = BOOLEANS_TRUE if value else BOOLEANS_FALSE
        return any(isinstance(choice, str) and choice.lower() in spellings for choice in choices)
    if any(value == choice and not isinstance(choice, bool) for choice in choices):
        return True
    text = str(value)
    if windows:
        return any(text.casefold() == str(choice).casefold() for choice in choices)
    return any(text == str(choice) for choice in choices if not isinstance(choice, bool))


def _names_index(options: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Every accepted spelling (name, alias, deprecated alias) -> option name."""
    index: dict[str, str] = {}
    for name, opt in options.items():
        index[name] = name
        for alias in opt.get("aliases") or ():
            index.setdefault(str(alias), name)
        for deprecated in opt.get("deprecated_aliases") or ():
            if isinstance(deprecated, Mapping) and "name" in deprecated:
                index.setdefault(str(deprecated["name"]), name)
    return index


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _lookup(key: str, index: Mapping[str, str], windows: bool) -> tuple[str | None, str | None]:
    """Option for a given key, and a warning text when it only matches ignoring case."""
    if key in index:
        return index[key], None
    if windows:
        for spelling, name in index.items():
            if spelling.casefold() == key.casefold():
                return name, (
                    f"option '{key}' matches '{spelling}' only when case is ignored "
                    "(Ansible.Basic warns and will reject it); use the documented spelling"
                )
    return None, None


@dataclass
class _Issues:
    """(anchor, message) pairs; the anchor is the loaded value whose line is reported."""

    items: list[tuple[object, str]] = field(default_factory=list)

    def add(self, anchor: object, message: str) -> None:
        self.items.append((anchor, message))


def check_value(
    opt: Mapping[str, Any],
    value: Any,
    label: str,
    windows: bool,
    anchor: object,
    issues: _Issues,
) -> None:
    """Type, choices and sub-options of one literal value."""
    if value is None or is_templated(value) or type(value).__name__ == "EncryptedString":
        return
    type_name = opt.get("type")
    converted = value
    if isinstance(type_name, str):
        try:
            converted = convert(type_name, value, windows)
        except _ArgumentIssue as exc:
            issues.add(anchor, f"option '{label}' expects {type_name}, got {_describe(value)}: {exc}")
            return
    elements = opt.get("elements")
    items: list[Any] = converted if type_name == "list" and isinstance(converted, list) else []
    if isinstance(elements, str):
        for position, item in enumerate(items):
            check_value(
                {"type": elements, "suboptions": opt.get("suboptions")},
                item,
                f"{label}[{position}]",
                windows,
                item if line_of(item, 0) else anchor,
                issues,
            )
    suboptions = opt.get("suboptions")
    if isinstance(suboptions, Mapping) and type_name == "dict" and isinstance(converted, dict):
        check_options(suboptions, converted, windows, f"{label}.", anchor, issues, ())
    choices = _choice_values(opt.get("choices"))
    if choices:
        values = items if type_name == "list" else [converted]
        for item in values:
            if item is None or is_templated(item):
                continue
            if not in_choices(item, choices, windows):
                listed = ", ".join(str(choice) for choice in choices)
                issues.add(
                    anchor,
                    f"option '{label}' value {item!r} is not one of: {listed}"
                    + _suggest(str(item), [str(choice) for choice in choices]),
                )


def check_options(
    options: Mapping[str, Mapping[str, Any]],
    values: Mapping[Any, Any],
    windows: bool,
    prefix: str,
    anchor: object,
    issues: _Issues,
    supplied_elsewhere: Iterable[str],
) -> set[str]:
    """Unknown keys, required options and every value of one options mapping.

    Returns the option names that were given. ``supplied_elsewhere`` are keys that
    ``module_defaults`` provides, which count for required options.
    """
    index = _names_index(options)
    given: set[str] = set()
    for key, value in values.items():
        text = str(key)
        name, case_warning = _lookup(text, index, windows)
        if name is None:
            issues.add(key, f"unknown option '{prefix}{text}'" + _suggest(text, index))
            continue
        if case_warning:
            issues.add(key, case_warning)
        given.add(name)
        check_value(options[name], value, f"{prefix}{text}", windows, key, issues)
    for key in supplied_elsewhere:
        name, _ = _lookup(str(key), index, windows)
        if name is not None:
            given.add(name)
    for name, opt in options.items():
        if opt.get("required") and name not in given and name not in FREE_FORM_DOC_OPTIONS:
            issues.add(anchor, f"missing required option '{prefix}{name}'")
    return given


def check_module_args(
    spec: ModuleSpec,
    args: Mapping[Any, Any],
    anchor: object,
    supplied_elsewhere: Iterable[str] = (),
) -> list[tuple[object, str]]:
    """Check one module call's arguments (as ModuleArgsParser returns them)."""
    issues = _Issues()
    if "_variable_params" in args:
        return []  # ``args: "{{ some_mapping }}"``: nothing is known before runtime
    options = {name: opt for name, opt in spec.options.items() if name not in FREE_FORM_DOC_OPTIONS}
    remaining: dict[Any, Any] = {}
    free_form_given = False
    for key, value in args.items():
        text = str(key)
        if text in INTERNAL_ARG_KEYS:
            continue
        if text == "_raw_params" and "_raw_params" not in options:
            if spec.accepts_raw_params:
                free_form_given = True
            else:
                shown = str(value)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                issues.add(value, f"does not take free-form arguments (got {shown!r})")
            continue
        remaining[key] = value
    if spec.arbitrary_keys:
        index = _names_index(options)
        extra = [key for key in remaining if str(key) not in index]
        for key in extra:
            del remaining[key]
        if spec.arbitrary_keys_option and spec.arbitrary_keys_option in options:
            option = spec.arbitrary_keys_option
            options = {name: opt for name, opt in options.items() if name != option}
            if not extra and not free_form_given:
                issues.add(anchor, f"needs at least one key=value ({option})")
    check_options(options, remaining, spec.windows, "", anchor, issues, supplied_elsewhere)
    if spec.free_form_option and spec.options[spec.free_form_option].get("required") and not free_form_given:
        issues.add(anchor, f"missing the free-form command ({spec.free_form_option})")
    return issues.items


# --------------------------------------------------------------------------- the checker


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


class TaskArgsChecker:
    """Checks task files of one repository root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        configure_ansible(root)
        self.docs = ModuleDocs()
        self._defaults_cache: dict[str, str | None] = {}

    def check_tree(self) -> Report:
        """Every task file of the repository (see discover_task_files)."""
        return self.check_files(discover_task_files(self.root))

    def check_paths(self, paths: Iterable[Path]) -> Report:
        """Explicit files or directories; plays and task lists are told apart by content."""
        files: list[TaskFile] = []
        for path in paths:
            if path.is_dir():
                files.extend(TaskFile(item, "auto") for item in _yaml_files(path, frozenset()))
            else:
                files.append(TaskFile(path, "auto"))
        return self.check_files(files)

    def check_files(self, files: Iterable[TaskFile]) -> Report:
        report = Report()
        for task_file in files:
            report.extend(self.check_file(task_file))
        return report

    def check_file(self, task_file: TaskFile) -> Report:
        report = Report()
        shown = _relative(task_file.path, self.root)
        try:
            kind, tasks = file_tasks(task_file)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            report.findings.append(Finding(shown, line, "yaml", str(exc.problem or exc)))
            report.files = 1
            return report
        except (OSError, yaml.YAMLError, AnsibleError, UnicodeDecodeError) as exc:
            report.findings.append(Finding(shown, 1, "yaml", str(exc).splitlines()[0]))
            report.files = 1
            return report
        report.files = 0 if kind == "skip" else 1
        for context in tasks:
            self._check_task(context, shown, report)
        report.findings.sort(key=lambda finding: finding.line)
        return report

    def _short_error(self, exc: Exception) -> str:
        """One line of an ansible error, with the repository root left out of paths."""
        text = " ".join(str(exc).split())
        for prefix in (f"{self.root.resolve()}/", f"{self.root}/"):
            text = text.replace(prefix, "")
        return text if len(text) <= 400 else text[:397] + "..."

    def _supplied_by_defaults(self, fqcn: str, context: TaskContext) -> tuple[list[str], bool]:
        """Keys module_defaults gives this module; True when they cannot be known."""
        keys: list[str] = []
        unknown = False
        for entry in context.module_defaults:
            if not isinstance(entry, Mapping):
                unknown = True  # a templated module_defaults value
                continue
            for name, values in entry.items():
                text = str(name)
                if text.startswith("group/"):
                    unknown = True  # action groups: membership is resolved at runtime
                    continue
                if self.docs.resolve(text, context.collections) == fqcn:
                    if isinstance(values, Mapping):
                        keys.extend(str(key) for key in values)
                    else:
                        unknown = True
        return keys, unknown

    def _check_task(self, context: TaskContext, shown: str, report: Report) -> None:
        task = context.task
        if not isinstance(task, Mapping):
            report.findings.append(
                Finding(shown, line_of(task), "task", f"a task must be a mapping, got {_describe(task)}")
            )
            return
        task_line = line_of(task)
        candidates = [
            key for key in task if str(key) not in TASK_KEYWORDS and not str(key).startswith("with_")
        ]
        written = str(candidates[0]) if candidates else "task"
        parser = ModuleArgsParser(dict(task), collection_list=list(context.collections) or None)
        try:
            action, args, _delegate = parser.parse()
        except AnsibleError as exc:
            message = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
            anchor = candidates[0] if candidates else task
            if "couldn't resolve module/action" in message:
                message = (
                    f"cannot resolve module '{written}' (not in ansible.builtin, an installed "
                    "collection or the library path)"
                )
            report.findings.append(Finding(shown, line_of(anchor, task_line), written, message))
            return
        report.calls += 1
        action_text = str(action)
        module_key = next((key for key in candidates if str(key) == action_text), None)
        anchor: object = module_key if module_key is not None else task
        if module_key is None:
            for legacy in ("action", "local_action"):
                if legacy in task:
                    anchor = task[legacy]
        for key in candidates:
            if str(key) != action_text:
                report.findings.append(
                    Finding(
                        shown,
                        line_of(key, task_line),
                        action_text,
                        f"'{key}' is neither a task keyword nor the task's module"
                        + _suggest(str(key), TASK_KEYWORDS),
                    )
                )
        fqcn = getattr(parser, "_resolved_action", None) or self.docs.resolve(
            action_text, context.collections
        )
        if fqcn is None:
            report.findings.append(
                Finding(shown, line_of(anchor, task_line), action_text, "cannot resolve module")
            )
            return
        try:
            spec = self.docs.spec(fqcn)
        except AnsibleError as exc:
            report.findings.append(
                Finding(
                    shown,
                    line_of(anchor, task_line),
                    action_text,
                    f"no usable DOCUMENTATION for {fqcn}: {self._short_error(exc)}",
                )
            )
            return
        supplied, defaults_unknown = self._supplied_by_defaults(fqcn, context)
        issues = check_module_args(spec, args or {}, anchor, supplied)
        for issue_anchor, message in issues:
            if defaults_unknown and message.startswith(("missing required", "missing the free-form")):
                continue
            report.findings.append(
                Finding(shown, line_of(issue_anchor, line_of(anchor, task_line)), action_text, message)
            )


def check_tree(root: Path) -> Report:
    """Check every task file under ``root`` (roles, playbooks, molecule)."""
    return TaskArgsChecker(root).check_tree()


def check_paths(paths: Iterable[Path], root: Path) -> Report:
    """Check the given files/directories, resolving modules as ``root`` would."""
    return TaskArgsChecker(root).check_paths(paths)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="task files or directories to check instead of the whole repository",
    )
    options = parser.parse_args(argv)
    checker = TaskArgsChecker(options.root)
    report = checker.check_paths(options.paths) if options.paths else checker.check_tree()
    for finding in report.findings:
        print(finding)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
