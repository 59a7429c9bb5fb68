"""The local development stack: Apache Kafka (KRaft) and redis-server as plain processes.

Kafka's jars come from Maven Central through ``mvn`` (the pinned ``kafka-pom.xml``), Redis is
Debian's ``redis-server`` from PATH. Everything lives under ``Settings.stack_dir`` (``.stack/``):
jars, data, logs and pid files. ``down`` stops only the processes whose pid files ``up`` wrote.
``up(redis_cluster=True)`` also starts a Redis Cluster of 3 masters with a replica each on
ports ``CLUSTER_PORTS`` (``redis-cli --cluster create``), for tests of the production mode;
run again, it restarts a node that was stopped, and the node rejoins from its nodes.conf.
``up(kafka_cluster=True)`` also starts a 3-broker KRaft cluster (``KAFKA_NODES``): PLAINTEXT
listeners at ``KAFKA_CLUSTER_BROKERS`` and SASL_SSL ones (SCRAM-SHA-512, a local CA: see
``stack.tls``) at ``KAFKA_SECURE_BROKERS``; run again, it restarts a node that was stopped.
"""

from __future__ import annotations

import base64
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.stack.tls import SCRAM_MECHANISM, USER, ClusterSecrets, ensure_secrets
from riskstream.streams import clients

_Log = Callable[[str], None]

KAFKA_VERSION = "4.3.1"
KAFKA_MAIN = "kafka.Kafka"
# Short names for Kafka's own command-line tools (`riskstream stack kafka-tool NAME ARGS...`).
KAFKA_TOOLS = {
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "storage": "kafka.tools.StorageTool",
}
CLUSTER_PORTS = tuple(range(7000, 7006))  # 3 masters, then their replicas
CLUSTER_URL = f"redis://127.0.0.1:{CLUSTER_PORTS[0]}/0"
# The 3-broker Kafka cluster: node i listens on PLAINTEXT 19091+i, SASL_SSL 19191+i and
# CONTROLLER 19291+i (every node is a broker and a KRaft controller).
KAFKA_NODES = (1, 2, 3)
KAFKA_CLUSTER_BROKERS = ",".join(f"127.0.0.1:{19091 + n}" for n in KAFKA_NODES)
KAFKA_SECURE_BROKERS = ",".join(f"127.0.0.1:{19191 + n}" for n in KAFKA_NODES)
UP_DEADLINE_S = 120.0
DOWN_DEADLINE_S = 30.0
HOW_TO_GET = {
    "java": "install a JDK 17+ (apt-get install openjdk-17-jre-headless)",
    "mvn": "install Maven (apt-get install maven)",
    "redis-server": "install Redis 7 (apt-get install redis-server)",
}

# every redis-server the stack starts: durable (AOF, no RDB snapshots), in the foreground
# (the stack keeps its pid), reachable only as bound
REDIS_FLAGS = ("--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes")


@dataclass(frozen=True)
class Endpoints:
    """Where the stack listens, derived from the settings clients use."""

    kafka_host: str
    kafka_port: int
    redis_host: str
    redis_port: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Endpoints:
        """Bind where the clients will connect: the first broker and the Redis URL's port."""
        first = settings.kafka_brokers.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        redis_url = urlsplit(settings.redis_url.get_secret_value())
        if host not in ("localhost", "127.0.0.1") or redis_url.hostname not in (
            "localhost",
            "127.0.0.1",
        ):
            msg = (
                "the local stack serves only localhost: point RISKSTREAM_KAFKA_BROKERS "
                "and RISKSTREAM_REDIS_URL at 127.0.0.1"
            )
            raise StackError(msg)
        return cls("127.0.0.1", int(port or 9092), "127.0.0.1", redis_url.port or 6379)


class Stack:
    """Start, check and stop the local Kafka + Redis."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.stack_dir.resolve()
        self.ends = Endpoints.from_settings(settings)
        self.kafka_dir = self.root / "kafka"
        self.redis_dir = self.root / "redis"
        self.libs = self.kafka_dir / "libs"
        self._started: dict[str, subprocess.Popen[bytes]] = {}

    # -- up ---------------------------------------------------------------------------------
    def up(
        self, log: _Log = print, *, redis_cluster: bool = False, kafka_cluster: bool = False
    ) -> None:
        """Start whatever is not running yet and return once all answer (idempotent)."""
        for tool in ("java", "mvn", "redis-server"):
            if shutil.which(tool) is None:
                msg = f"{tool} not found on PATH: {HOW_TO_GET[tool]}"
                raise StackError(msg)
        self.kafka_dir.mkdir(parents=True, exist_ok=True)
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        if not self._alive("redis"):
            self._start_redis()
            log(f"started redis-server on {self.ends.redis_host}:{self.ends.redis_port}")
        if not self._alive("kafka"):
            self._fetch_kafka(log)
            self._configure_kafka()
            self._start_kafka("kafka", self.kafka_dir)
            where = f"{self.ends.kafka_host}:{self.ends.kafka_port}"
            log(f"started Apache Kafka {KAFKA_VERSION} on {where}")
        if redis_cluster:
            self._start_cluster(log)
        if kafka_cluster:
            self._start_kafka_cluster(log)
        self.wait_ready(UP_DEADLINE_S)
        if redis_cluster:
            self._form_cluster(log, UP_DEADLINE_S)
        if kafka_cluster:
            self._wait_kafka_cluster(UP_DEADLINE_S)

    # -- the 3-broker Kafka cluster ---------------------------------------------------------
    @property
    def kafka_cluster_dir(self) -> Path:
        """Where the 3-broker cluster keeps its nodes, certificates and client.env."""
        return self.root / "kafka-cluster"

    def kafka_cluster_secrets(self) -> ClusterSecrets:
        """The cluster's CA, keystore and SCRAM password (made on first use)."""
        return ensure_secrets(self.kafka_cluster_dir, KAFKA_SECURE_BROKERS)

    def kafka_node_pid(self, node: int) -> int | None:
        """The pid of a running node of the 3-broker cluster, or None."""
        name = f"kafka-{node}"
        return self._pid(name) if self._alive(name) else None

    def _start_kafka_cluster(self, log: _Log) -> None:
        """Start the nodes of the 3-broker cluster that are not running (formatting the
        storage of a new node with the cluster's id and SCRAM user)."""
        self._fetch_kafka(log)
        made = self.kafka_cluster_secrets()
        id_file = self.kafka_cluster_dir / "cluster-id"
        if not id_file.exists():
            id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        cluster_id = id_file.read_text().strip()
        for node in KAFKA_NODES:
            name = f"kafka-{node}"
            if self._alive(name):
                continue
            node_dir = self.kafka_cluster_dir / str(node)
            node_dir.mkdir(parents=True, exist_ok=True)
            conf = node_dir / "server.properties"
            conf.write_text(_properties(_cluster_node_props(node, node_dir / "data", made)))
            (node_dir / "log4j2.yaml").write_text(_LOG4J2.format(log=node_dir / "server.log"))
            if not (node_dir / "data" / "meta.properties").exists():
                scram = f"{SCRAM_MECHANISM}=[name={USER},password={made.password}]"
                self._java(
                    KAFKA_TOOLS["storage"],
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(conf),
                    "--add-scram",
                    scram,
                )
            self._start_kafka(name, node_dir, heap="512m")
            log(
                f"started Kafka node {node} of 3 on 127.0.0.1:{19091 + node} (SASL_SSL "
                f"{19191 + node})"
            )

    def _wait_kafka_cluster(self, deadline_s: float) -> None:
        """Wait until every node is in the cluster's metadata and a produce acknowledged by
        all replicas (acks=all) comes back on the plain and on the SASL_SSL listeners."""
        plain = _plain(KAFKA_CLUSTER_BROKERS)
        secure = self.kafka_cluster_secrets().client_settings(KAFKA_SECURE_BROKERS)

        def check(end: float) -> None:
            for settings in (plain, secure):
                admin = AdminClient(clients.librdkafka(settings, **_QUIET))
                meta = admin.list_topics(timeout=5)
                if len(meta.brokers) < len(KAFKA_NODES):
                    msg = f"{len(meta.brokers)} of {len(KAFKA_NODES)} Kafka nodes up"
                    raise StackError(msg)
                _round_trip(settings, max(1.0, end - time.monotonic()))

        self._poll("Kafka cluster", check, deadline_s)

    def _start_cluster(self, log: _Log) -> None:
        for port in CLUSTER_PORTS:
            name = f"redis-{port}"
            if self._alive(name):
                continue
            node_dir = self.root / "redis-cluster" / str(port)
            node_dir.mkdir(parents=True, exist_ok=True)
            cmd = [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(node_dir),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                *REDIS_FLAGS,
            ]
            self._spawn(name, cmd, node_dir / "redis.log")
            log(f"started redis-server (cluster node) on 127.0.0.1:{port}")

    def _form_cluster(self, log: _Log, deadline_s: float) -> None:
        """Create the cluster once; then wait until every node says cluster_state:ok."""
        end = time.monotonic() + deadline_s
        while not all(_answers("127.0.0.1", port) for port in CLUSTER_PORTS):
            if time.monotonic() > end:
                msg = f"Redis Cluster nodes on {CLUSTER_PORTS} did not start; see their logs"
                raise StackError(msg)
            time.sleep(0.1)
        if _cluster_info(CLUSTER_PORTS[0]).get("cluster_known_nodes") == "1":
            nodes = [f"127.0.0.1:{port}" for port in CLUSTER_PORTS]
            cmd = [
                "redis-cli",
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
                msg = f"redis-cli --cluster create failed: {tail[0]}"
                raise StackError(msg)
            log(f"created a Redis Cluster of {len(CLUSTER_PORTS)} nodes at {CLUSTER_URL}")
        while time.monotonic() < end:
            if self.cluster_is_ok():
                return
            time.sleep(0.2)
        msg = f"Redis Cluster at {CLUSTER_URL} not ok within {deadline_s:.0f}s"
        raise StackError(msg)

    def cluster_is_ok(self) -> bool:
        """Every cluster node answers and reports cluster_state:ok with all slots served."""
        try:
            infos = [_cluster_info(port) for port in CLUSTER_PORTS]
        except redis.RedisError:
            return False
        return all(
            i.get("cluster_state") == "ok" and i.get("cluster_slots_ok") == "16384" for i in infos
        )

    def _fetch_kafka(self, log: _Log) -> None:
        marker = self.libs / f".kafka-{KAFKA_VERSION}"
        if marker.exists():
            return
        log(f"fetching Apache Kafka {KAFKA_VERSION} jars with mvn (once) ...")
        pom = self.kafka_dir / "pom.xml"
        pom.write_bytes(
            importlib.resources.files("riskstream.stack").joinpath("kafka-pom.xml").read_bytes()
        )
        if self.libs.exists():
            shutil.rmtree(self.libs)
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={self.libs}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            msg = f"mvn could not fetch Kafka {KAFKA_VERSION}: {tail[0]}"
            raise StackError(msg)
        marker.touch()

    def _configure_kafka(self) -> None:
        data = self.kafka_dir / "data"
        port = self.ends.kafka_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{port + 1}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": str(self.settings.partitions),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "24",
            "log.segment.bytes": str(64 * 1024 * 1024),
        }
        conf = self.kafka_dir / "server.properties"
        conf.write_text(_properties(props))
        (self.kafka_dir / "log4j2.yaml").write_text(
            _LOG4J2.format(log=self.kafka_dir / "server.log")
        )
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            # "=": an id starting with "-" (1 in 64) would otherwise read as an option
            self._java(
                KAFKA_TOOLS["storage"], "format", f"--cluster-id={cluster_id}", "-c", str(conf)
            )

    def _java(self, main: str, *args: str) -> None:
        cmd = ["java", "-cp", f"{self.libs}/*", main, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            msg = f"{main} failed: {tail[0]}"
            raise StackError(msg)

    def _start_kafka(self, name: str, where: Path, heap: str = "768m") -> None:
        cmd = [
            "java",
            "-Xms256m",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={where / 'log4j2.yaml'}",
            "-cp",
            f"{self.libs}/*",
            KAFKA_MAIN,
            str(where / "server.properties"),
        ]
        self._spawn(name, cmd, where / "stdout.log")

    def _start_redis(self) -> None:
        cmd = [
            "redis-server",
            "--bind",
            self.ends.redis_host,
            "--port",
            str(self.ends.redis_port),
            "--dir",
            str(self.redis_dir),
            *REDIS_FLAGS,
        ]
        self._spawn("redis", cmd, self.redis_dir / "redis.log")

    def _spawn(self, name: str, cmd: list[str], logfile: Path) -> None:
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.root,
            )
        self._pidfile(name).write_text(str(proc.pid))
        self._started[name] = proc

    # -- readiness --------------------------------------------------------------------------
    def wait_ready(self, deadline_s: float) -> None:
        """Wait until Redis answers PING and Kafka a produce/consume round trip."""

        def check(end: float) -> None:
            self.redis_version()
            _tcp_check(self.ends.kafka_host, self.ends.kafka_port)
            self._kafka_round_trip(timeout_s=max(1.0, end - time.monotonic()))

        self._poll("stack", check, deadline_s)

    def _poll(self, what: str, check: Callable[[float], None], deadline_s: float) -> None:
        """Call ``check(deadline)`` until it raises nothing (StackError after deadline_s,
        with its last error; at once when a process this call started has exited)."""
        end = time.monotonic() + deadline_s
        last = "not tried"
        while time.monotonic() < end:
            self._check_started()
            try:
                check(end)
            except (redis.RedisError, KafkaException, StackError, OSError) as exc:
                last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                time.sleep(0.5)
                continue
            return
        msg = f"{what} not ready within {deadline_s:.0f}s: {last}"
        raise StackError(msg)

    def _check_started(self) -> None:
        """Raise if a process this call started has exited already."""
        for name, proc in self._started.items():
            if proc.poll() is not None:
                msg = f"{name} exited at start; see {self._log(name)}"
                raise StackError(msg)

    def _kafka_round_trip(self, timeout_s: float) -> None:
        brokers = f"{self.ends.kafka_host}:{self.ends.kafka_port}"
        _round_trip(_plain(brokers), timeout_s)

    def redis_version(self) -> str:
        """The running redis-server's version (raises redis.RedisError when it is down)."""
        client = redis.Redis(host=self.ends.redis_host, port=self.ends.redis_port, socket_timeout=2)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()

    # -- status and down --------------------------------------------------------------------
    def status(self) -> list[str]:
        """One line per service: up or down, version, address and pid."""
        lines = []
        pid = self._pid("kafka")
        where = f"{self.ends.kafka_host}:{self.ends.kafka_port}"
        if self._alive("kafka"):
            lines.append(f"kafka  up    Apache Kafka {KAFKA_VERSION} (KRaft) at {where}, pid {pid}")
        else:
            lines.append(f"kafka  down  (Apache Kafka {KAFKA_VERSION} would listen at {where})")
        where = f"{self.ends.redis_host}:{self.ends.redis_port}"
        try:
            version = self.redis_version()
        except redis.RedisError:
            lines.append(f"redis  down  (redis-server would listen at {where})")
        else:
            owner = f"pid {self._pid('redis')}" if self._alive("redis") else "not started by us"
            lines.append(f"redis  up    redis-server {version} at {where}, {owner}")
        nodes = [n for n in KAFKA_NODES if self._pid(f"kafka-{n}") is not None]
        if nodes:
            alive = [n for n in nodes if self._alive(f"kafka-{n}")]
            lines.append(
                f"kafka-cluster {len(alive)} of {len(KAFKA_NODES)} nodes up at "
                f"{KAFKA_CLUSTER_BROKERS}; SASL_SSL (SCRAM) at {KAFKA_SECURE_BROKERS}, client "
                f"settings in {self.kafka_cluster_dir / 'client.env'}"
            )
        started = [port for port in CLUSTER_PORTS if self._pid(f"redis-{port}") is not None]
        if started:
            alive = [port for port in started if self._alive(f"redis-{port}")]
            state = "ok" if self.cluster_is_ok() else "not ok"
            lines.append(
                f"redis-cluster {state}: {len(alive)} of {len(CLUSTER_PORTS)} nodes up at "
                f"{CLUSTER_URL} (ports {CLUSTER_PORTS[0]}-{CLUSTER_PORTS[-1]})"
            )
        return lines

    def is_up(self) -> bool:
        """Both services are running from our pid files."""
        return self._alive("kafka") and self._alive("redis")

    def down(self, log: _Log = print) -> None:
        """Stop the processes this stack started (SIGTERM, then SIGKILL after a deadline)."""
        names = (
            "kafka",
            *(f"kafka-{n}" for n in KAFKA_NODES),
            "redis",
            *(f"redis-{port}" for port in CLUSTER_PORTS),
        )
        for name in names:
            pid = self._pid(name)
            if pid is None:
                continue
            if self._alive(name):
                os.killpg(pid, signal.SIGTERM)
                end = time.monotonic() + DOWN_DEADLINE_S
                while self._alive(name) and time.monotonic() < end:
                    time.sleep(0.2)
                if self._alive(name):
                    os.killpg(pid, signal.SIGKILL)
                    while self._alive(name):
                        time.sleep(0.1)
                log(f"stopped {name} (pid {pid})")
            self._pidfile(name).unlink(missing_ok=True)

    def kafka_tool(self, tool: str, args: list[str]) -> list[str]:
        """The command line that runs one of Kafka's own tools against this stack's jars."""
        if not (self.libs / f".kafka-{KAFKA_VERSION}").exists():
            msg = "Kafka jars not fetched yet: run `riskstream stack up` first"
            raise StackError(msg)
        main = KAFKA_TOOLS.get(tool, tool)
        return ["java", "-Xmx256m", "-cp", f"{self.libs}/*", main, *args]

    # -- pid files --------------------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.root / f"{name}.pid"

    def _log(self, name: str) -> Path:
        if name.startswith("kafka-"):
            return self.kafka_cluster_dir / name.removeprefix("kafka-") / "server.log"
        if name.startswith("redis-"):
            return self.root / "redis-cluster" / name.removeprefix("redis-") / "redis.log"
        return self.kafka_dir / "server.log" if name == "kafka" else self.redis_dir / "redis.log"

    def _pid(self, name: str) -> int | None:
        try:
            return int(self._pidfile(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _alive(self, name: str) -> bool:
        """The pid file's process runs and is ours (its command line names the program)."""
        pid = self._pid(name)
        if pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has exited
            return False
        marker = KAFKA_MAIN.encode() if name.startswith("kafka") else b"redis-server"
        return marker in cmdline


def _plain(brokers: str) -> Settings:
    """A PLAINTEXT client of local brokers (whatever security the environment sets)."""
    return Settings(kafka_brokers=brokers, kafka_security_protocol="PLAINTEXT")


def _properties(props: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _cluster_node_props(node: int, data: Path, made: ClusterSecrets) -> dict[str, str]:
    """server.properties of one node of the 3-broker cluster: replicated internal topics
    (RF 3, min ISR 2), a PLAINTEXT listener between the brokers and for local tools, and a
    SASL_SSL one (SCRAM users, the local CA's certificate) for riskstream's clients."""
    plain, secure, controller = 19091 + node, 19191 + node, 19291 + node
    voters = ",".join(f"{n}@127.0.0.1:{19291 + n}" for n in KAFKA_NODES)
    return {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure},"
        f"CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,"
        "CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(made.keystore),
        "log.dirs": str(data),
        "num.partitions": "4",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "3",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "transaction.state.log.num.partitions": "8",
        "share.coordinator.state.topic.replication.factor": "3",
        "share.coordinator.state.topic.min.isr": "2",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


# Readiness checks fail until the brokers are up: librdkafka's own log lines would repeat
# every refused connection on stderr; the last error goes into our message instead.
_QUIET = {"log_level": 0}


def _round_trip(settings: Settings, timeout_s: float) -> None:
    """Produce a token (acks=all) and read it back: the brokers take and serve records."""
    topic = "__riskstream_stack_check"
    token = uuid.uuid4().hex.encode()
    producer = Producer(
        clients.librdkafka(settings, **_QUIET, **{"socket.timeout.ms": 5000, "acks": "all"})
    )
    producer.produce(topic, value=token)
    if producer.flush(min(timeout_s, 15.0)) != 0:
        msg = "kafka: produce not acknowledged"
        raise StackError(msg)
    consumer = Consumer(
        clients.librdkafka(
            settings,
            **_QUIET,
            **{
                "group.id": f"riskstream-stack-check-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    try:
        consumer.subscribe([topic])
        end = time.monotonic() + min(timeout_s, 30.0)
        while time.monotonic() < end:
            got = consumer.poll(0.5)
            if got is not None and got.error() is None and got.value() == token:
                return
    finally:
        consumer.close()
    text = "kafka: round trip message not consumed"
    raise StackError(text)


def _answers(host: str, port: int) -> bool:
    """Something answers Redis PING there."""
    client = redis.Redis(host=host, port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _cluster_info(port: int) -> dict[str, str]:
    """CLUSTER INFO of one local node."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True)
    try:
        return {str(k): str(v) for k, v in client.cluster("INFO").items()}
    finally:
        client.close()


def _tcp_check(host: str, port: int) -> None:
    """Raise OSError unless something accepts TCP connections there."""
    with socket.create_connection((host, port), timeout=2):
        pass


_LOG4J2 = """\
Configuration:
  Appenders:
    File:
      name: file
      fileName: "{log}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
"""
