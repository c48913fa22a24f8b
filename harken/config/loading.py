"""Loading the config: the file, ``${VAR}`` references, the environment layer, validation.

Precedence, highest first (stated once, tested per layer):

    command-line flag  >  environment variable  >  config file  >  built-in default

The config file is ``--config PATH``, else ``$HARKEN_CONFIG``, else ``./config.yaml`` when it
exists; with none of them harken runs on the built-in defaults. Secrets never live in the file:
``${VAR}`` (or ``${VAR:-fallback}``) is replaced by the environment variable at load, and an
unset variable becomes empty (``harken doctor`` reports it). A relative SQLite path in a config
file is relative to that file, so ``harken --config demo/config.yaml ...`` works from anywhere.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harken.config.schema import Config
from harken.errors import ConfigError
from harken.logs import redact_shapes

# Environment variables that override one config key each (the "env" layer).
ENV_OVERRIDES: dict[str, str] = {
    "HARKEN_DATABASE_URL": "database.url",
    "HARKEN_CLASSIFIER_MODEL": "classifier.model",
}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def example_config_text() -> str:
    """The annotated example config.yaml shipped with harken (also used by the demo)."""
    return resources.files("harken").joinpath("data/config.yaml").read_text(encoding="utf-8")


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the config with the documented precedence; raise ConfigError naming the bad key."""
    environ = os.environ if environ is None else environ
    file_path = _find_config_file(path, environ)
    tree: dict[str, Any] = {}
    env_refs: dict[str, str] = {}
    if file_path is not None:
        # A .env beside the config fills in variables the real environment does not set.
        environ = {**read_dotenv(file_path.parent / ".env"), **environ}
        tree = _read_yaml(file_path)
        tree = _resolve_env_refs(tree, environ, env_refs, "")
        _anchor_sqlite_path(tree, file_path.parent)
        _anchor_heads_path(tree, file_path.parent)
    used_vars = list(env_refs.values())
    for var, dotted in ENV_OVERRIDES.items():
        if environ.get(var):
            _set_dotted(tree, dotted, environ[var])
            used_vars.append(var)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, dotted, value)
    # A value from the environment can be a password or a webhook: errors name it, never show it.
    masks = {
        environ[v]: f"<the value of ${v}>" for v in used_vars if len(environ.get(v) or "") >= 4
    }
    _check_strings(tree, file_path)
    config = _validate(tree, file_path, masks)
    config._path = file_path
    config._env_refs = env_refs
    config._secret_values = [environ[v] for v in used_vars if environ.get(v)]
    return config


def mask_secrets(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each of ``values`` (value -> what to show instead) and every
    credential-shaped string (a URL's password, a webhook, ``token=...``) masked."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, values[value])
    return redact_shapes(text)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (``#`` comments, optional quotes, optional ``export``)."""
    if _not_a_file(path):  # a FIFO or a device is never opened: nothing can hang on it
        return {}
    values = {}
    for line in _read_text(path, "a .env file").splitlines():
        line = line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value:
            values[key.strip()] = value
    return values


def _find_config_file(path: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        chosen, origin = Path(path), "--config"
    elif environ.get("HARKEN_CONFIG"):
        chosen, origin = Path(environ["HARKEN_CONFIG"]), "$HARKEN_CONFIG"
    else:
        default = Path("config.yaml")
        return default.resolve() if default.is_file() else None
    problem = _not_a_file(chosen)
    if problem:
        raise ConfigError(
            f"config file {str(chosen)!r} (from {origin}) {problem}",
            hint="run `harken init DIR` to write an annotated one",
        )
    return chosen.resolve()


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a config file, or None when it is a regular file."""
    try:
        if path.is_file():
            return None
        if path.is_dir():
            return "is a directory, not a file"
        return "is not a regular file (a device or a pipe?)" if path.exists() else "does not exist"
    except OSError as err:  # a name too long, a loop of symbolic links...
        return f"cannot be read: {err.strerror or err}"


# A config is a few kilobytes. These limits refuse, quickly and with a clear error, the files
# that would otherwise hang or exhaust every command: YAML aliases that nest (a 400-byte "billion
# laughs" file expands to billions of values), nesting deep enough to overflow the parser's
# recursion, or a file that is not a config at all.
MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 100_000  # after every alias is expanded


def _read_text(path: Path, what: str) -> str:
    """The file as UTF-8 text, at most MAX_CONFIG_BYTES of it, or a ConfigError saying why not."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            size = path.stat().st_size  # 0 for a device that never ends
            shown = f"{size:,} bytes" if size > MAX_CONFIG_BYTES else "it goes on past the limit"
            raise ConfigError(
                f"{path}: {shown}: too large for {what} (the limit is {MAX_CONFIG_BYTES:,} bytes)"
            )
        return data.decode("utf-8-sig")  # an editor's byte-order mark is not part of the text
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.start + 1} is {data[err.start]:#04x})",
            hint="save it as UTF-8",
        ) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    text = _read_text(path, "a config file")
    try:
        _check_shape(text, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {problem}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top, got {_kind(data)}")
    return data


def _check_shape(text: str, path: Path) -> None:
    """Depth and size after alias expansion, from the parser's events: no tree is built, so
    neither costs more than reading the file once."""
    sizes: dict[str, int] = {}  # anchor -> values under it, aliases expanded
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, values so far) per collection
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise ConfigError(
                    f"{path}: nested more than {MAX_DEPTH} levels deep at line "
                    f"{event.start_mark.line + 1}: not a harken config"
                )
            open_nodes.append((event.anchor, 1))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, count = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, count = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if any(event.anchor == open_anchor for open_anchor, _ in open_nodes):
                raise ConfigError(
                    f"{path}: the alias *{event.anchor} at line {event.start_mark.line + 1} "
                    f"is inside the &{event.anchor} it refers to: a value cannot contain itself"
                )
            anchor, count = None, sizes.get(event.anchor, 1)
        else:
            continue
        if anchor:
            sizes[anchor] = count
        if open_nodes:
            parent_anchor, parent_count = open_nodes[-1]
            open_nodes[-1] = (parent_anchor, parent_count + count)
        if count > MAX_VALUES or (open_nodes and open_nodes[0][1] > MAX_VALUES):
            raise ConfigError(
                f"{path}: expands to more than {MAX_VALUES:,} values (YAML aliases "
                f"repeating aliases?) at line {event.start_mark.line + 1}: not a harken config"
            )


def _resolve_env_refs(
    node: Any, environ: Mapping[str, str], refs: dict[str, str], where: str
) -> Any:
    if isinstance(node, dict):
        return {
            k: _resolve_env_refs(v, environ, refs, f"{where}.{k}" if where else str(k))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_resolve_env_refs(v, environ, refs, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and _ENV_REF.search(node):
        for match in _ENV_REF.finditer(node):
            refs[where] = match.group(1)
        resolved = _ENV_REF.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), node)
        return resolved or None
    return node


def _check_strings(node: Any, file_path: Path | None, where: str = "") -> None:
    """No NUL and no lone surrogate in any key or value: YAML's "\\0" and "\\ud800" escapes
    (or such an environment variable) make text that no database, file name or terminal takes."""
    if isinstance(node, dict):
        children = [(f"{where}.{k}" if where else str(k), k, v) for k, v in node.items()]
    elif isinstance(node, list):
        children = [(f"{where}[{i}]", None, v) for i, v in enumerate(node)]
    else:
        return
    for here, key, value in children:
        if not (_is_clean(key) and _is_clean(value)):
            shown = here.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode()
            origin = f"{file_path}: " if file_path else ""
            raise ConfigError(
                f"{origin}{shown}: contains a NUL or an unpaired surrogate character, which "
                "cannot be stored or shown",
                hint="remove the \\0 or \\uXXXX escape (or the variable's stray bytes)",
            )
        _check_strings(value, file_path, here)


def _is_clean(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _anchor_sqlite_path(tree: dict[str, Any], base: Path) -> None:
    database = tree.get("database")
    url = database.get("url") if isinstance(database, dict) else None
    prefix = "sqlite:///"
    if not isinstance(url, str) or not url.startswith(prefix):
        return
    db_path = url[len(prefix) :]
    if db_path and db_path != ":memory:" and not Path(db_path).is_absolute():
        tree["database"]["url"] = prefix + str(base / db_path)


def _anchor_heads_path(tree: dict[str, Any], base: Path) -> None:
    classifier = tree.get("classifier")
    heads = classifier.get("heads") if isinstance(classifier, dict) else None
    if isinstance(heads, str) and heads and not Path(heads).is_absolute():
        classifier["heads"] = str(base / heads)  # type: ignore[index]


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[leaf] = value


def _validate(tree: dict[str, Any], file_path: Path | None, masks: Mapping[str, str]) -> Config:
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        problems = list(dict.fromkeys(_problems(err.errors(), masks, tree)))
        origin = f"{file_path}: " if file_path else ""
        # Every problem at once (up to a screenful): fixing one and running again to meet the
        # next is how a config with three typos took three tries.
        shown = problems[:SHOWN_PROBLEMS]
        # One line (errors print as one): "a: ...; given 3 | also b: ... | also c: ...".
        text = origin + shown[0] + "".join(f" | also {p}" for p in shown[1:])
        if len(problems) > len(shown):
            more = len(problems) - len(shown)
            text += f" | and {more} more problem{'s' if more > 1 else ''}"
        raise ConfigError(text) from None


SHOWN_PROBLEMS = 8


def _problems(errors: list[Any], masks: Mapping[str, str], tree: Any = None) -> list[str]:
    """Each validation error as a line (where, what is wrong, what was given); the errors of
    one value that fits no member of a union are one line ("a boolean or 'auto'")."""
    said: dict[tuple[str, str], list[str]] = {}  # (where, given) -> what is wrong
    for error in errors:
        where = _key_path(error["loc"], tree)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        shown = ""
        if error["type"] != "missing" and where:
            shown = f"; given {_show(error.get('input'), masks)}"
        said.setdefault((where, shown), []).append(_shorten(mask_secrets(message, masks)))
    return [
        (f"{where}: " if where else "") + " or ".join(dict.fromkeys(messages)) + shown
        for (where, shown), messages in said.items()
    ]


# A message quotes what it was given; a pasted page must not become a 100 KB error line.
# A quoted value opens after a space or a bracket and closes before one (or punctuation): the
# text between two quoted values is not itself a quote.
_LONG_QUOTE = re.compile(r"""(?:^|(?<=[\s(\[]))(?:'[^']{60,}'|"[^"]{60,}")(?=$|[\s),.;:\]])""")
MAX_MESSAGE = 600


def _shorten(message: str) -> str:
    message = _LONG_QUOTE.sub(lambda m: m.group(0)[:57] + "..." + m.group(0)[0], message)
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


# How pydantic names the member of a union it tried ("console.bool", "console.literal['auto']",
# "quiet_hours.QuietHours.start"): not part of the key a user wrote.
_UNION_MEMBERS = ("bool", "int", "float", "str", "none", "list", "dict")


def _key_path(loc: tuple[Any, ...], tree: Any = None) -> str:
    """The key as the file writes it. A part that is a key of the file's own mapping at that
    level is kept whatever it looks like (a topic named "str" or "Config"); pydantic's names
    for the union member it tried are not keys, and are left out."""
    text, node = "", tree
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            text += f".{part}" if text else str(part)
            node = node[part]
        elif not _union_member(str(part)):
            text += f".{part}" if text else str(part)
            node = None
    return text


def _union_member(part: str) -> bool:
    return (
        part.startswith(("function-", "list[", "dict[", "literal["))
        or part in _UNION_MEMBERS
        or part in _schema_models()
    )


@functools.cache
def _schema_models() -> frozenset[str]:
    """The config's model classes by name (a user's own key, "Billing", is not one of them)."""
    from harken.config import digest, schema, sinks, values, web

    return frozenset(
        name
        for module in (digest, schema, sinks, values, web)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel)
    )


def _show(value: Any, masks: Mapping[str, str]) -> str:
    if isinstance(value, dict | list):
        return _kind(value)
    if isinstance(value, str) and value in masks:
        return masks[value]
    # Masked before it is cut: a cut would leave part of a secret unmatched.
    text = mask_secrets(repr(value), masks)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)
