"""What `docker build` would read, for tests that run what the image runs instead of a retyped copy.

No Docker engine runs here, so the tests read `docker/Dockerfile` (stages, ENV, exec-form CMD/ENTRYPOINT,
HEALTHCHECK, COPY) and the root `.dockerignore` (which files the build context sends) the way the builder does,
for the subset of the syntax those files use; anything outside that subset fails loudly rather than guessing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"the stage FROM {self.base} has no {keyword}"
        return found[-1]

    @property
    def env(self) -> dict[str, str]:
        """Every ENV of the stage, later values winning, as the container's environment has them."""
        env: dict[str, str] = {}
        for item in self.all("ENV"):
            env.update(parse_env(item.args))
        return env

    def exec_form(self, keyword: str) -> list[str]:
        """The JSON-array form of CMD or ENTRYPOINT; a shell form (signals go to /bin/sh) fails."""
        return exec_form(self.last(keyword).args, keyword)

    @property
    def command(self) -> list[str]:
        """ENTRYPOINT followed by CMD: the process the container runs."""
        return self.exec_form("ENTRYPOINT") + self.exec_form("CMD")

    @property
    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """The HEALTHCHECK's options (`{"--interval": "10s"}`) and its exec-form command."""
        options, _, command = self.last("HEALTHCHECK").args.partition(" CMD ")
        flags = dict(option.split("=", 1) for option in options.split())
        return flags, exec_form(command, "HEALTHCHECK CMD")


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, instruction) with continuations joined and comment lines dropped, as the builder does."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    """The build stages in order; global `ARG`s (before the first FROM) are substituted into FROM lines."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = args.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda match: global_args[match.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        else:
            assert stages, f"line {number}: {keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, args, number))
    return stages


def parse_env(args: str) -> dict[str, str]:
    """`ENV A=1 B="two words"` (and the legacy `ENV A 1`) -> {"A": "1", "B": "two words"}."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    pairs = [word.split("=", 1) for word in words]
    assert all(len(pair) == 2 for pair in pairs), f"ENV {args!r} mixes forms"
    return {key: value for key, value in pairs}


def exec_form(args: str, what: str) -> list[str]:
    try:
        value = json.loads(args)
    except ValueError:
        value = None
    assert isinstance(value, list) and value and all(isinstance(word, str) for word in value), (
        f"{what} {args!r} is not in exec form: under /bin/sh the server would not receive SIGTERM"
    )
    return value


def copy_sources(stage: Stage) -> list[tuple[list[str], str]]:
    """The stage's `COPY src... dest` from the build context (not `--from` another stage), dest made absolute."""
    workdir = PurePosixPath("/")
    copies: list[tuple[list[str], str]] = []
    for item in stage.instructions:
        if item.keyword == "WORKDIR":
            workdir = workdir / item.args
        elif item.keyword in ("COPY", "ADD"):
            words = shlex.split(item.args)
            flags = [word for word in words if word.startswith("--")]
            paths = [word for word in words if not word.startswith("--")]
            if any(flag.startswith("--from") for flag in flags):
                continue
            dest = str(workdir / paths[-1]) + ("/" if paths[-1].endswith("/") or len(paths) > 2 else "")
            copies.append((paths[:-1], dest))
    return copies


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `*` and `?` stay within one path segment, `**` crosses them."""
    out, i = "", 0
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        elif text[i] == "[":
            end = text.index("]", i)
            out, i = out + "[" + text[i + 1:end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    """The root .dockerignore: the last pattern matching a path or one of its parent folders decides."""

    rules: tuple[tuple[bool, str, re.Pattern[str]], ...]

    @classmethod
    def read(cls, path: Path = DOCKERIGNORE) -> DockerIgnore:
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            text = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((negated, text, _pattern(text)))
        return cls(tuple(rules))

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        result = False
        for negated, _, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                result = not negated
        return result

    def _may_include_below(self, folder: str) -> bool:
        """Whether some `!pattern` could bring back a file under an excluded folder (then it is walked)."""
        for negated, text, _ in self.rules:
            if negated and (any(char in text for char in "*?[") or text.startswith(folder + "/")):
                return True
        return False

    def context(self, root: Path = ROOT) -> list[str]:
        """The files `docker build` sends from `root`, relative and sorted."""
        sent: list[str] = []
        for folder, dirs, files in os.walk(root):
            here = Path(folder).relative_to(root).as_posix()
            prefix = "" if here == "." else here + "/"
            dirs[:] = [name for name in dirs
                       if not self.excluded(prefix + name) or self._may_include_below(prefix + name)]
            sent.extend(prefix + name for name in files if not self.excluded(prefix + name))
        return sorted(sent)


def materialise_stage(stage: Stage, files: list[str], into: Path, root: Path = ROOT) -> None:
    """Lay out under `into` what the stage's COPY lines put in its filesystem, from the context `files` only."""
    context = into / "_context"
    for name in files:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, context / name)
    for sources, dest in copy_sources(stage):
        target = into / dest.lstrip("/")
        for source in sources:
            found = sorted(context.glob(source.rstrip("/")))
            assert found, f"COPY {source}: not in the build context (check .dockerignore)"
            for path in found:
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True)
                else:
                    destination = target / path.name if dest.endswith("/") else target
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, destination)
    shutil.rmtree(context)
