"""The services a distributed Airflow needs, on loopback, each with its data in a temporary folder and
its own port, each started as one process whose PID we keep (so the lane stops exactly what it started):

* PostgreSQL (the metadata DB), run in the foreground as a non-root user when we are root
  (postgres refuses to run as root; `setpriv` to the Debian `postgres` user, or one we create);
* Redis (the Celery broker);
* a moto S3 server, with a versioned bucket.

Missing binaries are installed with apt-get (Debian's `postgresql` and `redis-server`) when we are
root; otherwise the lane stops with a message naming the package.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.standalone.cluster import free_port, stop_session, wait_for


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        names = " ".join(packages)
        raise RuntimeError(f"missing {names}: install them (apt-get install {names})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(packages)} with apt-get", flush=True)
    subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env, check=True, capture_output=True)


def postgres_bin() -> Path:
    def find() -> Path | None:
        for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
            if (Path(candidate) / "postgres").exists() and (Path(candidate) / "initdb").exists():
                return Path(candidate)
        on_path = shutil.which("initdb")
        return Path(on_path).resolve().parent if on_path else None

    found = find()
    if found is None:
        apt_install("postgresql")
        found = find()
    if found is None:
        raise RuntimeError("postgresql is installed but no initdb/postgres binaries were found")
    return found


def redis_bin() -> str:
    found = shutil.which("redis-server")
    if found is None:
        apt_install("redis-server")
        found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server is installed but not on PATH")
    return found


class Service:
    """One process, in a session of its own, stopped by its PID (process group)."""

    name = "service"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def preexec(self) -> list[str]:
        return []

    def start(self) -> None:
        self.starts += 1
        log = (self.home / f"{self.name}.{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [*self.preexec(), *self.command()], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(f"{self.name} on port {self.port}", self._up, 60, every=0.2)

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()[-2000:]}")
        return port_open(self.port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            stop_session(proc, sig, timeout)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.home.glob(f"{self.name}.*.log")))


class Postgres(Service):
    name = "postgres"
    USER = "airflow"
    DB = "airflow"

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.bin = postgres_bin()
        self.dir = home / "pg"
        self.dir.mkdir(mode=0o700)
        self.run_as = self._run_as()
        if self.run_as is not None:
            os.chown(self.dir, self.run_as.pw_uid, self.run_as.pw_gid)
            os.chmod(home, 0o755)  # the postgres user must reach its folder (mkdtemp makes it 0700)
        self._initdb()

    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        """None when we are not root; else the `postgres` user (Debian's package makes one) or our own."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "sp-postgres"):
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        subprocess.run(["useradd", "--system", "--no-create-home", "sp-postgres"], check=True)
        return pwd.getpwnam("sp-postgres")

    def preexec(self) -> list[str]:
        if self.run_as is None:
            return []
        return ["setpriv", f"--reuid={self.run_as.pw_uid}", f"--regid={self.run_as.pw_gid}", "--init-groups"]

    def _initdb(self) -> None:
        done = subprocess.run(
            [*self.preexec(), str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", self.USER,
             "--auth=trust", "-E", "UTF8", "--no-instructions"],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")

    def command(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D", str(self.dir / "data"),
            "-p", str(self.port),
            "-k", str(self.dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "max_connections=300",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip

    def start(self) -> None:
        super().start()
        wait_for("postgres to accept connections", self._ready, 60, every=0.2)

    def _ready(self) -> bool:
        import psycopg2  # type: ignore[import-untyped,import-not-found,unused-ignore]

        try:
            psycopg2.connect(host="127.0.0.1", port=self.port, user=self.USER, dbname="postgres").close()
            return True
        except psycopg2.OperationalError:
            return False

    def create_db(self) -> None:
        import psycopg2  # type: ignore[import-untyped,import-not-found,unused-ignore]

        db = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.USER, dbname="postgres")
        db.autocommit = True
        with db.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.DB}")
        db.close()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:  # SIGINT: fast shutdown
        super().stop(sig, timeout)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.USER}@127.0.0.1:{self.port}/{self.DB}"


class Redis(Service):
    name = "redis"

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.bin = redis_bin()
        self.dir = home / "redis"
        self.dir.mkdir()

    def command(self) -> list[str]:
        return [
            self.bin, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class MotoS3(Service):
    name = "moto"
    BUCKET = "sp-distributed"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def make_bucket(self) -> None:
        s3 = self.client()
        s3.create_bucket(Bucket=self.BUCKET)
        s3.put_bucket_versioning(Bucket=self.BUCKET, VersioningConfiguration={"Status": "Enabled"})

    def tree(self, prefix: str) -> dict[str, bytes]:
        """Current objects under prefix, keys relative to it."""
        s3, out = self.client(), dict[str, bytes]()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=self.BUCKET, Key=item["Key"])["Body"].read()
                out[item["Key"][len(prefix) :]] = body
        return out

    def versions(self, prefix: str) -> dict[str, int]:
        """Versions (delete markers included) per key under prefix."""
        s3, out = self.client(), dict[str, int]()
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.BUCKET, Prefix=prefix):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                key = item["Key"][len(prefix) :]
                out[key] = out.get(key, 0) + 1
        return out

    def count(self, prefix: str) -> int:
        s3, total = self.client(), 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.BUCKET, Prefix=prefix):
            total += len(page.get("Contents", []))
        return total


def wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
