"""Build the queue-depth Lambda zip: handler.py at the root (and redis when fast ack needs it).

The zip is reproducible (fixed timestamps, sorted entries) and named after its content hash,
so the S3 key changes exactly when the code does and CloudFormation then updates the function.

    python infra/package_lambda.py [--out DIR] [--with-redis]    # prints the zip's path
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HANDLER = REPO / "lambda" / "queue_depth_metric" / "handler.py"
# Zip timestamps cannot predate 1980; a constant keeps the hash a function of the content.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
REDIS_REQUIREMENT = "redis>=5.0,<9.0"  # the project's own bound (pyproject.toml)


def _add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.external_attr = 0o644 << 16  # readable by the Lambda runtime's user
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def build_zip(out_dir: Path, with_redis: bool = False) -> Path:
    """Write queue_depth_metric-<sha12>.zip into out_dir and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        files = {"handler.py": HANDLER}
        if with_redis:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--target", tmp, REDIS_REQUIREMENT],
                check=True,
            )
            files.update(
                (p.relative_to(staging).as_posix(), p)
                for p in staging.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
        draft = staging / "draft.zip"
        with zipfile.ZipFile(draft, "w") as archive:
            for name in sorted(files):
                _add(archive, files[name], name)
        digest = hashlib.sha256(draft.read_bytes()).hexdigest()[:12]
        target = out_dir / f"queue_depth_metric-{digest}.zip"
        target.write_bytes(draft.read_bytes())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "var" / "build")
    parser.add_argument("--with-redis", action="store_true", help="needed when VIDEO_FAST_ACK=1")
    args = parser.parse_args(argv)
    print(build_zip(args.out, args.with_redis))
    return 0


if __name__ == "__main__":
    sys.exit(main())
