"""The template source: sequences and emails read from the templates folder (the layer at
/opt in Lambda, the repo's templates/ locally). The rules they must follow live in
`ripen.core.validator`, which only ever sees text."""

from __future__ import annotations

from pathlib import Path

from ripen.core.emails import EMAIL_SUFFIXES, SHARED_DIR
from ripen.core.locales import fallback_chain
from ripen.core.sequence import (
    Sequence,
)
from ripen.core.validator import SEQUENCE_FILE, VERSIONS_DIR, Catalog, LoadResult, Problem, validate_text


def load_sequence(path: Path, root: Path | None = None) -> LoadResult:
    """Validate one sequence file. `root` makes the file names in problems relative."""
    display = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return LoadResult(None, [Problem(display, 1, f"cannot read the file: {exc.strerror}")])
    frozen = path.parent.name == VERSIONS_DIR
    folder = path.parent.parent if frozen else path.parent

    def emails(name: str) -> str | None:
        found = find_email(folder, name)
        return found.read_text(encoding="utf-8") if found else None

    return validate_text(text, emails, display, folder.name, path.stem if frozen else None)


def load_catalog(templates_dir: Path) -> Catalog:
    """Load `<templates_dir>/*/sequence.yaml` and their frozen `versions/<n>.yaml`."""
    catalog = Catalog()
    for path in sorted(templates_dir.glob(f"*/{SEQUENCE_FILE}")):
        if path.parent.name.startswith("_"):
            continue
        current = load_sequence(path, root=templates_dir)
        catalog.problems.extend(current.problems)
        versions: dict[int, Sequence] = {}
        for frozen in sorted((path.parent / VERSIONS_DIR).glob("*.yaml")):
            result = load_sequence(frozen, root=templates_dir)
            catalog.problems.extend(result.problems)
            if not result.sequence:
                continue
            if current.sequence and result.sequence.version >= current.sequence.version:
                catalog.problems.append(
                    Problem(
                        str(frozen.relative_to(templates_dir)),
                        1,
                        f"frozen version {result.sequence.version} is not older than sequence.yaml "
                        f"(version {current.sequence.version})",
                        "bump 'version' in sequence.yaml above every file in versions/",
                    )
                )
                continue
            versions[result.sequence.version] = result.sequence
        if current.sequence:
            versions[current.sequence.version] = current.sequence
        if versions:
            catalog.versions[path.parent.name] = versions
    return catalog


def find_email(sequence_dir: Path, name: str, locale: str | None = None) -> Path | None:
    """The email file for `name` in the lead's language: the sequence's own first, then the shared
    folder; in each, `name.<locale>` down its fallback chain (`pt-br`, `pt`), then `name` itself."""
    stems = [f"{name}.{each}" for each in fallback_chain(locale)] + [name]
    for folder in (sequence_dir, sequence_dir.parent / SHARED_DIR):
        for stem in stems:
            for suffix in EMAIL_SUFFIXES:
                candidate = folder / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate
    return None
