"""Measure what `sam build` produced: each function's files, unzipped and zipped size, and checks
that nothing the functions do not need was shipped. `make build` runs it after `sam build`.

    python -m ripen_dev.local.artifacts .aws-sam/build
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ripen_dev.local import cfn

# Budgets with headroom over what was measured (7 MB zipped, 23 MB unzipped in November 2026).
MAX_ZIPPED = 12 * 1024 * 1024
MAX_UNZIPPED = 40 * 1024 * 1024
# Never shipped: local tools, tests, the SDK the python3.13 runtime already has.
FORBIDDEN = ("ripen/local", "tests", "boto3", "botocore", "pytest", "moto", "mypy", "ruff", "bin")


@dataclass(frozen=True)
class Artifact:
    function: str
    files: int
    unzipped: int
    zipped: int
    forbidden: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        found = [f"{self.function}: ships {name}/ (not needed at run time)" for name in self.forbidden]
        if self.zipped > MAX_ZIPPED:
            found.append(f"{self.function}: {mb(self.zipped)} zipped, over the {mb(MAX_ZIPPED)} budget")
        if self.unzipped > MAX_UNZIPPED:
            found.append(f"{self.function}: {mb(self.unzipped)} unzipped, over the {mb(MAX_UNZIPPED)} budget")
        return found


def mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def measure(function: str, folder: Path) -> Artifact:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:  # as `sam package` zips it
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
    forbidden = tuple(name for name in FORBIDDEN if (folder / name).exists())
    return Artifact(function, len(files), sum(p.stat().st_size for p in files), buffer.tell(), forbidden)


def measure_build(build_dir: Path) -> list[Artifact]:
    template = cfn.load_template(build_dir / "template.yaml")
    functions = cfn.resources_of_type(template, "AWS::Serverless::Function")
    return [measure(name, build_dir / str(props["CodeUri"])) for name, props in sorted(functions.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ripen_dev.local.artifacts", description=__doc__.split("\n")[0])
    parser.add_argument("build_dir", type=Path, nargs="?", default=Path(".aws-sam/build"))
    args = parser.parse_args(argv)
    artifacts = measure_build(args.build_dir)
    print(f"{'function':<24} {'files':>6} {'unzipped':>10} {'zipped':>9}")
    for a in artifacts:
        print(f"{a.function:<24} {a.files:>6} {mb(a.unzipped):>10} {mb(a.zipped):>9}")
    problems = [p for a in artifacts for p in a.problems]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
