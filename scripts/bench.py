#!/usr/bin/env python3
"""make bench: every function's cold request and warm latency at Lambda's CPU
share for each memory size, with TLS, against two floors and a Python
equivalent measured in the same run; memory, size, and the cost per memory
size. Prints a table and writes JSON (--out), from which scripts/bench-doc.py
writes docs/explanation/performance.md's tables.

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
Here each function process runs in a cgroup whose CPU bandwidth quota is that
share of one core (cgroup v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, or v2
`cpu.max`; root is needed to make them). `full` is no quota at all.

What runs, all on 127.0.0.1 and stopped by PID:
- bench/runtime-api: our Lambda Runtime API, which times each invocation
  itself (event handed to the function → its response), with TCP_NODELAY;
- bench/moto-tls.py: moto with a TLS listener (keep-alive) for the functions
  and a plain one for the bench's own setup;
- a model stub (SageMaker Runtime's stand-in, a fixed reply) over TLS.
The functions are a build with `shared/bench-trust`: they trust the bench's CA
(MLOPS_BENCH_CA) besides the deployed roots, so every first AWS call pays a
real TLS handshake. The floors are bench/floor (a bare lambda_runtime
hello-world) and bench/tls-floor (the same plus one HTTPS call per invocation
with the functions' TLS stack).

Figures are ratios to a floor measured in the same run, because the machine is
shared and noisy; absolute milliseconds are for reading, not for gating.
"""
import argparse
import datetime
import http.client
import http.server
import json
import math
import os
import pathlib
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = ["start-retraining", "check-endpoint", "deploy-endpoint", "request-approval",
             "handle-approval", "record-metadata", "invoke-endpoint", "evaluate-model"]
FLOOR, TLS_FLOOR, PYTHON = "floor", "tls-floor", "python-invoke-endpoint"
FULL_CORE_MB = 1769
SIZES = [128, 256, 512, 1024, 1769]
PERIOD_US = 100_000
TARGETS = {"coldRatio": 1.5, "ownStartRatio": 1.5, "pythonTimes": 100, "peakRssMb": 20.0, "zipMb": 4.0,
           "overheadP50Ms": 0.2}
# The prices the cost figures assume: AWS Lambda, us-east-1, arm64 (the
# template's architecture), first pricing tier, as published on
# aws.amazon.com/lambda/pricing. Billed duration is rounded up to 1 ms and, for
# a custom runtime (provided.al2023), includes the init phase.
PRICES = {"usdPerGbSecond": 0.0000133334, "usdPerMillionRequests": 0.20,
          "assumed": "AWS Lambda, us-east-1, arm64, first tier: $0.0000133334 per GB-second, "
                     "$0.20 per million requests; billed duration rounded up to 1 ms, init included"}
# One run that deploys, from statemachine/pipeline.asl.json and the template:
# the function's invocations, the first one cold (runs are hours apart).
RUN_INVOCATIONS = {
    "start-retraining": 1,   # the S3 event (or the schedule)
    "record-metadata": 7,    # started, trained, transformed, approved, deployed, the run's end, one reminder
    "evaluate-model": 1,
    "request-approval": 1,
    "handle-approval": 2,    # the page, the decision
    "check-endpoint": 15,    # CheckEndpoint, then PollEndpoint every 30 s (EndpointPollSeconds) for ~7 minutes
    "deploy-endpoint": 1,
}
CHILDREN = []


def say(text):
    print(text, flush=True)


def stop_children(*_):
    while CHILDREN:
        proc = CHILDREN.pop()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def on_signal(signum, _frame):
    stop_children()
    sys.exit(128 + signum)


def pct(values, q):
    ordered = sorted(values)
    return ordered[round((len(ordered) - 1) * q)]


def summary(values):
    return {"min": min(values), "median": statistics.median(values), "p90": pct(values, 0.9), "n": len(values)}


def size_key(mb):
    return "full" if mb is None else str(mb)


# ---------------------------------------------------------------- building

def build(target_dir, tls_study):
    packages = [arg for name in FUNCTIONS + [FLOOR, TLS_FLOOR, "runtime-api"] for arg in ("-p", name)]
    say(f"bench: release build (the deployed profile) of the functions with shared/bench-trust, the floors "
        f"and the Runtime API, for the host ({platform.machine()}; no aarch64 standard library here)")
    subprocess.run(["cargo", "build", "--release", "--features", "shared/bench-trust", *packages],
                   cwd=ROOT, check=True)
    if tls_study:
        say("bench: release build of tls-probe (aws-lc and ring; built alone so the functions stay ring-only)")
        subprocess.run(["cargo", "build", "--release", "-p", "tls-probe"], cwd=ROOT, check=True)
    return target_dir / "release"


# Ideas for a faster start (README/docs), each a build of its own measured
# beside the main build in the same run (--ideas): what it changes, and which
# binaries it is tried on. The builds go to their own target directories
# (RUSTFLAGS and profile overrides rebuild every crate) and are copied to
# <target>/bench-ideas/<label>/.
IDEAS = {
    "static relocation model": {
        "what": "-C relocation-model=static: a non-PIE executable, no relocations for the dynamic loader",
        "env": {"RUSTFLAGS": "-C relocation-model=static"}, "packages": ["floor", "tls-floor", "invoke-endpoint"]},
    "opt-level z": {
        "what": "opt-level \"z\" instead of \"s\": smaller code, fewer pages to fault in",
        "env": {"CARGO_PROFILE_RELEASE_OPT_LEVEL": "z"}, "packages": ["floor", "tls-floor", "invoke-endpoint"]},
    "Amazon roots only": {
        "what": "trust Amazon Trust Services' 5 roots instead of Mozilla's ~150 (feature shared/bench-amazon-roots)",
        "features": "shared/bench-amazon-roots", "packages": ["invoke-endpoint", "record-metadata"]},
}


def build_ideas(target_dir):
    folders = {}
    host = subprocess.run(["rustc", "--print", "host-tuple"], capture_output=True, text=True,
                          check=True).stdout.strip()
    for label, idea in IDEAS.items():
        packages = [arg for name in idea["packages"] for arg in ("-p", name)]
        say(f"bench: building the idea \"{label}\" ({', '.join(idea['packages'])})")
        if "env" in idea:
            # --target keeps RUSTFLAGS off build scripts and proc-macros.
            own = target_dir / ("bench-idea-" + label.replace(" ", "-"))
            cmd = ["cargo", "build", "--release", "--target", host, "--target-dir", str(own),
                   "--features", "shared/bench-trust", *packages]
            built = own / host / "release"
        else:
            cmd = ["cargo", "build", "--release", "--features", idea["features"], *packages]
            built = target_dir / "release"
        subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, **idea.get("env", {})})
        folder = target_dir / "bench-ideas" / label.replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        for name in idea["packages"]:
            shutil.copy2(built / name, folder / name)
        folders[label] = folder
    if any("features" in idea for idea in IDEAS.values()):
        # The main build's binaries again (cargo keeps both; this only copies).
        build(target_dir, False)
    return folders


def zip_size(binary):
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "function.zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.write(binary, "bootstrap")
        return path.stat().st_size


def python_venv():
    """.venv-bench: awslambdaric and boto3 for the Python equivalent, apart from the dev tools."""
    venv = ROOT / ".venv-bench"
    want = (ROOT / "bench/requirements.txt").read_text()
    stamp = venv / ".stamp"
    if not stamp.exists() or stamp.read_text() != want:
        say("bench: installing awslambdaric and boto3 into .venv-bench")
        if not (venv / "bin/python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "--disable-pip-version-check", "-q", "-r",
                        str(ROOT / "bench/requirements.txt")], check=True)
        stamp.write_text(want)
    return venv / "bin/python"


# ---------------------------------------------------------------- CPU share

class CpuShares:
    """One cgroup per memory size, its CPU bandwidth quota Lambda's share of a core."""

    def __init__(self):
        name = f"mlops-bench-{os.getpid()}"
        v1 = pathlib.Path("/sys/fs/cgroup/cpu")
        v2 = pathlib.Path("/sys/fs/cgroup")
        controllers = v2 / "cgroup.controllers"
        if (v1 / "cpu.cfs_quota_us").exists():
            self.version, self.root = 1, v1 / name
        elif controllers.exists() and "cpu" in controllers.read_text().split():
            self.version, self.root = 2, v2 / name
        else:
            raise SystemExit("bench: no cgroup CPU controller here (cgroup v1 cpu or v2 cpu.max); "
                             "the CPU share cannot be set")
        try:
            if self.version == 2:
                (v2 / "cgroup.subtree_control").write_text("+cpu")
            self.root.mkdir()
        except OSError as e:
            raise SystemExit(f"bench: cannot make a cgroup at {self.root} ({e}); make bench runs as root")
        self.groups = {}

    def quota_us(self, mb):
        return min(PERIOD_US, round(PERIOD_US * mb / FULL_CORE_MB))

    def group(self, mb):
        if mb is None:
            return None
        if mb not in self.groups:
            path = self.root / f"{mb}mb"
            path.mkdir()
            if self.version == 1:
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(self.quota_us(mb)))
            else:
                (path / "cpu.max").write_text(f"{self.quota_us(mb)} {PERIOD_US}")
            self.groups[mb] = path
        return self.groups[mb]

    def describe(self):
        files = "cpu.cfs_quota_us / cpu.cfs_period_us" if self.version == 1 else "cpu.max"
        return {"mechanism": f"cgroup v{self.version} CPU bandwidth ({files})", "periodUs": PERIOD_US,
                "fullCoreMb": FULL_CORE_MB, "quotaUs": {str(mb): self.quota_us(mb) for mb in SIZES}}

    def close(self):
        for path in self.groups.values():
            try:
                path.rmdir()
            except OSError:
                pass
        try:
            self.root.rmdir()
        except OSError:
            pass


class Launcher:
    """`runtime-api launch`, one per memory size, moved into that size's cgroup
    once: the processes it starts are born there. A cold start's clock starts
    at its stamp, just before the spawn (bench/runtime-api/src/launcher.rs says
    why not here: a cgroup v1 migration and a forked Python's teardown would
    be counted)."""

    def __init__(self, binary, group, log):
        self.proc = subprocess.Popen([str(binary), "launch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, start_new_session=True)
        CHILDREN.append(self.proc)
        if group:
            (group / "cgroup.procs").write_text(str(self.proc.pid))

    def ask(self, request):
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline() or b'{"error": "the launcher exited"}')
        if "error" in answer:
            raise SystemExit(f"bench: launcher: {answer['error']}")
        return answer

    def spawn(self, cmd, env, cwd=None):
        answer = self.ask({"spawn": cmd, "env": env, "cwd": str(cwd) if cwd else None})
        return answer["pid"], int(answer["stampNs"])

    def stop(self, pid):
        self.ask({"stop": pid})


# ---------------------------------------------------------------- stubs

class Stub(http.server.BaseHTTPRequestHandler):
    """SageMaker Runtime's stand-in with a fixed reply, answered in one write
    with TCP_NODELAY, so that the stub adds no Nagle/delayed-ACK stalls."""
    protocol_version = "HTTP/1.1"
    reply = b"setosa\n"

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(self.reply), self.reply))

    def log_message(self, *args):
        pass


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_certificates(folder):
    """A CA and a 127.0.0.1 certificate it signs, for this run only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlops bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "ca.pem"


def tls_model_stub(folder):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return serve(server)


def read_ports(proc, what):
    """The first stdout line of a server of ours: `name=PORT ...`."""
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"bench: {what} did not start (exit {proc.poll()}); see the log")
    return {k: int(v) for k, v in (part.split("=") for part in line.decode().split())}


class Runtime:
    """bench/runtime-api: the Runtime API, timing each invocation itself."""

    def __init__(self, binary, log):
        self.proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        CHILDREN.append(self.proc)
        self.port = read_ports(self.proc, "runtime-api")["port"]
        self.address = f"127.0.0.1:{self.port}"

    def connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=130)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    @staticmethod
    def invoke(conn, payload):
        Runtime.send(conn, payload)
        return Runtime.answer(conn)

    @staticmethod
    def send(conn, payload):
        conn.request("POST", "/invoke", body=payload, headers={"content-type": "application/json"})

    @staticmethod
    def answer(conn):
        response = conn.getresponse()
        body = response.read()
        return {"status": response.status, "body": body, "outcome": response.getheader("x-outcome"),
                "functionUs": int(response.getheader("x-function-us") or 0),
                "answeredAtNs": int(response.getheader("x-answered-at-ns") or 0)}


# ---------------------------------------------------------------- the functions

def events(env):
    """Per function: the event of a real invocation (its AWS calls answered by
    moto or the model stub, over TLS) and one refused before any AWS call."""
    load = lambda name: json.loads((ROOT / "events" / name).read_text())
    put = load("start-retraining/put.json")
    for record in put["Records"]:
        record["s3"]["bucket"]["name"] = env["DATA_BUCKET"]
    get = load("handle-approval/get.json")
    bad_get = json.loads(json.dumps(get))
    bad_get["path"] = "/not-an-id"
    bad_get["requestContext"]["path"] = "/approvals/not-an-id"
    bad_get["pathParameters"] = {"id": "not-an-id"}
    evaluate = load("evaluate-model/input.json")
    evaluate["transformOutputUri"] = f"s3://{env['ARTIFACT_BUCKET']}/transform/{evaluate['executionName']}/"
    hello = {"hello": "world"}
    return {
        "start-retraining": (put, {}),
        "check-endpoint": (load("check-endpoint/input.json"), {}),
        "deploy-endpoint": (load("deploy-endpoint/create.json"), {}),
        "request-approval": (load("request-approval/input.json"), {}),
        "handle-approval": (get, bad_get),
        "record-metadata": (load("record-metadata/started.json"), {}),
        "invoke-endpoint": (load("invoke-endpoint/predict.json"), load("invoke-endpoint/bad-row.json")),
        "evaluate-model": (evaluate, {}),
        FLOOR: (hello, hello),
        TLS_FLOOR: (hello, hello),
        PYTHON: (load("invoke-endpoint/predict.json"), load("invoke-endpoint/bad-row.json")),
    }


# handle-approval's real event asks for an approval the table does not hold:
# one DynamoDB read, then the not-found page (a page for a pending approval
# would need a run's approval written first).
EXPECTED_STATUS = {"handle-approval": 404}


def answered_well(answer, name=None):
    """The real invocation must have done its work, or the figure means nothing."""
    text = answer["body"].decode(errors="replace")
    if answer["status"] != 200 or answer["outcome"] != "response":
        return False, f"HTTP {answer['status']} {answer['outcome']}: {text[:300]}"
    value = json.loads(text)
    status = value.get("statusCode", 200) if isinstance(value, dict) else 200
    expected = EXPECTED_STATUS.get(name)
    if (status != expected) if expected else status >= 400:
        return False, f"statusCode {status}{f', not {expected}' if expected else ''}: {text[:300]}"
    if isinstance(value, dict) and "status" in value and value["status"] != 200:
        return False, f"status {value['status']}"
    return True, text[:120]


def refused_well(answer):
    """The refused event must be refused (a named error or a 4xx), not done."""
    text = answer["body"].decode(errors="replace")
    if answer["outcome"] == "error":
        return True
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and 400 <= value.get("statusCode", 0) < 500


def cold_samples(runtime, launcher, cmd, env, payload, spawns, throttled, cwd=None):
    """Spawn → first invocation answered, `spawns` times, a new process each time."""
    samples, answer = [], None
    for _ in range(spawns):
        if throttled:
            # The process before used this cgroup's quota; a Lambda sandbox
            # starts with its own. Two periods later the quota is whole again.
            time.sleep(2 * PERIOD_US / 1e6)
        conn = runtime.connection()
        # The event waits in the Runtime API before the process exists, as on Lambda.
        runtime.send(conn, payload)
        pid, stamp_ns = launcher.spawn(cmd, env, cwd)
        answer = runtime.answer(conn)
        # Both ends on CLOCK_MONOTONIC: the launcher's stamp before the spawn,
        # the Runtime API's when the answer arrived (not when this process read it).
        samples.append((answer["answeredAtNs"] - stamp_ns) / 1e6)
        launcher.stop(pid)
        conn.close()
    return samples, answer


def vm_hwm_kb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def warm_samples(runtime, launcher, cmd, env, payload, count, cwd=None):
    """The Runtime API's own timing of `count` invocations of one warm process."""
    conn = runtime.connection()
    pid, _ = launcher.spawn(cmd, env, cwd)
    runtime.invoke(conn, payload)
    samples = [runtime.invoke(conn, payload)["functionUs"] / 1e3 for _ in range(count)]
    rss = vm_hwm_kb(pid)
    launcher.stop(pid)
    conn.close()
    return samples, rss


def measure(name, cmd, env, events_, runtime, launchers, sizes, spawns, warm, own_start, cwd=None):
    real, refused = (json.dumps(e).encode() for e in events_)
    result = {"sizes": {}}
    for mb in sizes:
        launcher = launchers[mb]
        cold, answer = cold_samples(runtime, launcher, cmd, env, real, spawns, mb is not None, cwd)
        ok, detail = answered_well(answer, name)
        if not ok:
            raise SystemExit(f"bench: {name}'s real invocation failed at {size_key(mb)} ({detail}); see the log")
        warm_ms, rss_kb = warm_samples(runtime, launcher, cmd, env, real, warm, cwd)
        result["sizes"][size_key(mb)] = {
            "coldMs": summary(cold),
            "warmMs": {"p50": pct(warm_ms, 0.5), "p99": pct(warm_ms, 0.99), "n": len(warm_ms)},
            "peakRssMb": rss_kb / 1024 if rss_kb else None,
        }
        result["answer"] = detail
    if own_start:
        cold, answer = cold_samples(runtime, launchers[None], cmd, env, refused, spawns, False, cwd)
        if name != FLOOR and not refused_well(answer):
            raise SystemExit(f"bench: {name} did not refuse its refused event: {answer['body'][:300]!r}")
        result["ownStartMs"] = summary(cold)
    return result


# ---------------------------------------------------------------- the template and costs

def template_memory():
    """Each function's MemorySize in template.yaml (the Globals' unless it sets its own)."""
    text = (ROOT / "template.yaml").read_text()
    default = int(re.search(r"^Globals:\n(?:  .*\n|\n)*?    MemorySize: (\d+)", text, re.M).group(1))
    sizes = {}
    for name in FUNCTIONS:
        logical = "".join(part.title() for part in name.split("-")) + "Function"
        block = re.search(rf"^  {logical}:\n((?:    .*\n|\n)*)", text, re.M)
        if not block:
            raise SystemExit(f"bench: {logical} is not in template.yaml")
        own = re.search(r"^      MemorySize: (\d+)", block.group(1), re.M)
        sizes[name] = int(own.group(1)) if own else default
    return sizes


def gb_seconds(mb, ms):
    return mb / 1024 * math.ceil(ms) / 1000


def unbounded(figure, whole_core):
    """Within 1.5× (or 1 ms) of the same figure with a whole core: the work,
    not the CPU share, is what bounds it at this size."""
    return figure <= max(1.5 * whole_core, whole_core + 1.0)


def costs(report):
    """GB-seconds per use at each size, and each function's memory: the
    cheapest size at which its cold request (and invoke-endpoint's warm p99)
    is not bound by the CPU share (see unbounded; 1,769 MB, a whole core,
    never is)."""
    per_function, chosen = {}, {}
    for name in FUNCTIONS:
        sizes = report["functions"][name]["sizes"]
        core = sizes[str(FULL_CORE_MB)]
        rows = {}
        for mb in SIZES:
            s = sizes[str(mb)]
            cold, warm = s["coldMs"]["median"], s["warmMs"]["p50"]
            if name == "invoke-endpoint":
                # A prediction is nearly always warm: one cold start per thousand requests, say.
                per = gb_seconds(mb, warm) + gb_seconds(mb, cold) / 1000
            else:
                n = RUN_INVOCATIONS[name]
                per = gb_seconds(mb, cold) + (n - 1) * gb_seconds(mb, warm)
            # A pipeline function's invocations are seconds to hours apart; only
            # invoke-endpoint serves back-to-back traffic, where a warm p99 bound
            # by the share (a quota spent within a period) is a user's wait.
            warm_bound = name == "invoke-endpoint" and not unbounded(s["warmMs"]["p99"], core["warmMs"]["p99"])
            rows[str(mb)] = {"gbSecondsCold": gb_seconds(mb, cold), "gbSecondsWarm": gb_seconds(mb, warm),
                             "gbSecondsPerUse": per,
                             "shareBound": warm_bound or not unbounded(cold, core["coldMs"]["median"])}
        candidates = [mb for mb in SIZES if not rows[str(mb)]["shareBound"]]
        chosen[name] = min(candidates, key=lambda mb: (rows[str(mb)]["gbSecondsPerUse"], mb))
        per_function[name] = rows
    usd = PRICES["usdPerGbSecond"]
    per_run = sum(per_function[n][str(chosen[n])]["gbSecondsPerUse"] for n in RUN_INVOCATIONS)
    requests_per_run = sum(RUN_INVOCATIONS.values())
    predict = per_function["invoke-endpoint"][str(chosen["invoke-endpoint"])]["gbSecondsPerUse"]
    return {
        "prices": PRICES,
        "runInvocations": RUN_INVOCATIONS,
        "perFunction": per_function,
        "chosenMb": chosen,
        "usdPerThousandRuns": 1000 * (per_run * usd + requests_per_run * PRICES["usdPerMillionRequests"] / 1e6),
        "usdPerMillionPredictions": 1e6 * predict * usd + PRICES["usdPerMillionRequests"],
    }


def cold_extra(result, size):
    """What a cold start adds to the same invocation warm: the cold request
    less the warm p50. The backend's own time (moto, a Python emulator: 3–12 ms
    a call) is in both and is not the function's; the TLS handshake, the init
    and the first call's set-up are in the first only."""
    s = result["sizes"][size]
    return s["coldMs"]["median"] - s["warmMs"]["p50"]


def goal_ratio(functions, name, size):
    """A cold request as a multiple of the TLS floor's at the same share: as
    measured for what calls the model stub like the TLS floor does
    (invoke-endpoint, its Python equivalent, the floors), less the backend's
    own time on both sides for what calls moto (cold_extra)."""
    if name in (FLOOR, TLS_FLOOR, PYTHON, "invoke-endpoint"):
        return functions[name]["sizes"][size]["coldMs"]["median"] / functions[TLS_FLOOR]["sizes"][size]["coldMs"]["median"]
    return cold_extra(functions[name], size) / cold_extra(functions[TLS_FLOOR], size)


def check_targets(report):
    lines, f = [], report["functions"]
    floor = f[FLOOR]
    for name in FUNCTIONS:
        if name not in f:
            continue
        cold = goal_ratio(f, name, "128")
        own = f[name]["ownStartMs"]["median"] / floor["ownStartMs"]["median"]
        rss = max(s["peakRssMb"] for s in f[name]["sizes"].values())
        for label, value, limit, unit in (
                ("cold request at 128 MB's share, TLS" + ("" if name == "invoke-endpoint" else ", less moto's time"),
                 cold, TARGETS["coldRatio"], "× the TLS floor"),
                ("own start at full speed", own, TARGETS["ownStartRatio"], "× the floor"),
                ("peak RSS", rss, TARGETS["peakRssMb"], "MB"),
                ("zip", f[name]["zipMb"], TARGETS["zipMb"], "MB")):
            verdict = "met" if value <= limit else f"MISSED by {value - limit:.2f} {unit}"
            lines.append(f"{name}: {label} {value:.2f} {unit} (target ≤ {limit}) {verdict}")
    if PYTHON in report["functions"]:
        times = (f[PYTHON]["sizes"]["128"]["coldMs"]["median"]
                 / f["invoke-endpoint"]["sizes"]["128"]["coldMs"]["median"])
        lines.append(f"invoke-endpoint's cold request at 128 MB is {times:.0f}× faster than Python's "
                     f"(target ≥ {TARGETS['pythonTimes']}) " + ("met" if times >= TARGETS["pythonTimes"] else "MISSED"))
    if report.get("invokeEndpointOverhead"):
        p50_ms = report["invokeEndpointOverhead"]["p50Us"] / 1000
        lines.append(f"invoke-endpoint overhead p50 {p50_ms:.4f} ms (target < {TARGETS['overheadP50Ms']}) "
                     + ("met" if p50_ms < TARGETS["overheadP50Ms"] else "MISSED"))
    return lines


# ---------------------------------------------------------------- TLS study and the hot path

def tls_study(probe, spawns, folder):
    """tls-probe: the first TLS call per crypto library and connect-time choice."""
    server = tls_model_stub(folder)
    ca = folder / "ca.pem"
    endpoint = f"https://127.0.0.1:{server.server_address[1]}"
    study = {"endpoint": "local TLS stub, self-signed CA trusted alongside the system roots"}
    try:
        for crypto in ("aws-lc", "ring"):
            once = [json.loads(subprocess.run([str(probe), "once", crypto], capture_output=True, text=True,
                                              check=True).stdout) for _ in range(spawns)]
            study[f"{crypto} start-up"] = {
                key: statistics.median([o[key] for o in once])
                for key in ("loadRootsMs", "firstRandomMs", "secondRandomMs", "firstKeyShareMs", "firstConfigMs")
            }
            for connect in ("init", "first-call"):
                runs = []
                for _ in range(spawns):
                    out = subprocess.run([str(probe), "path", crypto, connect, endpoint, str(ca)],
                                         capture_output=True, text=True)
                    if out.returncode != 0:
                        raise SystemExit(f"bench: tls-probe failed: {out.stderr.strip()}")
                    runs.append(json.loads(out.stdout))
                study[f"{crypto}, connect at {connect}"] = {
                    key: statistics.median([r[key] for r in runs])
                    for key in ("initMs", "firstCallMs", "secondCallMs", "coldPathMs")
                }
    finally:
        server.shutdown()
    return study


def overhead():
    say("bench: invoke-endpoint's own overhead (cargo bench --bench overhead, model stubbed in process)")
    out = subprocess.run(["cargo", "bench", "-q", "-p", "invoke-endpoint", "--bench", "overhead", "--", "20000"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench: the overhead bench failed:\n{out.stderr}")
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])


def criterion(target_dir):
    """The micro-benchmarks; criterion's own estimates (median) from target/criterion."""
    say("bench: criterion micro-benchmarks (cargo bench --bench hot_path)")
    out = subprocess.run(["cargo", "bench", "-q", "-p", "invoke-endpoint", "--bench", "hot_path", "--",
                          "--warm-up-time", "1", "--measurement-time", "2"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench: criterion failed:\n{out.stderr}")
    results = {}
    for meta in sorted((target_dir / "criterion").rglob("new/benchmark.json")):
        ns = json.loads((meta.parent / "estimates.json").read_text())["median"]["point_estimate"]
        results[json.loads(meta.read_text())["full_id"]] = f"{ns / 1000:.3f} µs" if ns >= 1000 else f"{ns:.1f} ns"
    if not results:
        raise SystemExit("bench: criterion ran but wrote no estimates")
    return results


# ---------------------------------------------------------------- the world

def seed(moto_url, config):
    """What the real events name: the model deploy-endpoint deploys, the
    transform output evaluate-model reads (held-out rows, all answered right)."""
    client = lambda service: boto3.client(service, region_name="us-east-1", endpoint_url=moto_url,
                                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client("sagemaker").create_model(
        ModelName=json.loads((ROOT / "events/deploy-endpoint/create.json").read_text())["modelName"],
        ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/iris-model:bench"})
    execution = json.loads((ROOT / "events/evaluate-model/input.json").read_text())["executionName"]
    rows = [line for line in (ROOT / "data/iris-test.csv").read_text().splitlines() if line.strip()]
    body = "".join(f"{row},{row.split(',')[0]}\n" for row in rows)
    s3 = client("s3")
    s3.put_object(Bucket=config["ARTIFACT_BUCKET"], Key=f"transform/{execution}/iris-test.csv.out",
                  Body=body.encode())
    # evaluate-model writes its report over the same key at every invocation;
    # moto keeps each version and its S3 calls slow down with their number
    # (4 ms → 18 ms after 1,500 puts), which made the figures a function of
    # the run's order. With versioning suspended moto keeps one.
    s3.put_bucket_versioning(Bucket=config["ARTIFACT_BUCKET"], VersioningConfiguration={"Status": "Suspended"})


# ---------------------------------------------------------------- report

def table(report):
    f = report["functions"]
    sizes = report["sizes"]
    say("\ncold request = spawn → first invocation answered, TLS included (median ms of %d spawns, × the TLS "
        "floor at the same share); warm = the Runtime API's own timing (p50 / p99 ms of %d)"
        % (f[FLOOR]["sizes"]["128"]["coldMs"]["n"], f[FLOOR]["sizes"]["128"]["warmMs"]["n"]))
    rows = [("function", *[f"cold {s}" for s in sizes], "own start full", "warm 128", "RSS MB", "zip MB")]
    for name, r in f.items():
        cells = []
        for s in sizes:
            if s in r["sizes"]:
                cells.append(f"{r['sizes'][s]['coldMs']['median']:.1f} ({goal_ratio(f, name, s):.2f})")
            else:
                cells.append("")
        own = f"{r['ownStartMs']['median']:.2f}" if "ownStartMs" in r else ""
        w = r["sizes"]["128"]["warmMs"]
        rss = max(s["peakRssMb"] for s in r["sizes"].values())
        rows.append((name, *cells, own, f"{w['p50']:.2f} / {w['p99']:.2f}", f"{rss:.1f}",
                     f"{r['zipMb']:.2f}" if "zipMb" in r else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    say("\n".join(lines))
    c = report["cost"]
    say("\nmemory by cost (the cheapest size not bound by the CPU share):")
    for name, mb in c["chosenMb"].items():
        say(f"  {name}: {mb} MB (template: {report['templateMb'][name]} MB)")
    say(f"  ${c['usdPerThousandRuns']:.4f} per 1,000 pipeline runs, ${c['usdPerMillionPredictions']:.2f} per million "
        f"predictions (Lambda only; {PRICES['assumed']})")
    say("\ntargets:")
    for line in report["targets"]:
        say(f"  {line}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=20, help="cold starts per function and size (at least 9)")
    parser.add_argument("--warm", type=int, default=1000, help="warm invocations per function and size")
    parser.add_argument("--python-spawns", type=int, default=9, help="cold starts of the Python equivalent per size")
    parser.add_argument("--out", default="docs/bench.json", help="where the JSON goes")
    parser.add_argument("--no-build", action="store_true", help="reuse the release binaries already built")
    parser.add_argument("--no-python", action="store_true", help="leave the Python equivalent out")
    parser.add_argument("--overhead", action="store_true", help="also invoke-endpoint's in-process overhead bench")
    parser.add_argument("--criterion", action="store_true", help="also the criterion micro-benchmarks")
    parser.add_argument("--tls-study", action="store_true", help="also tls-probe (aws-lc against ring)")
    parser.add_argument("--ideas", action="store_true", help="also build and measure IDEAS, beside the main build")
    parser.add_argument("--build-only", action="store_true", help="build (and --ideas), then stop")
    parser.add_argument("--only", nargs="*", help="measure only these functions (the floors always)")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=DIR",
                        help="also measure the binaries in DIR (another build: an idea to try) at 128 MB and "
                             "full speed, as rows LABEL beside the main build's")
    args = parser.parse_args()
    if args.spawns < 9 or args.warm < 100:
        parser.error("at least 9 spawns and 100 warm invocations")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    target_dir = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    release = target_dir / "release" if args.no_build else build(target_dir, args.tls_study)
    ideas = {}
    if args.ideas:
        ideas = ({label: target_dir / "bench-ideas" / label.replace(" ", "-") for label in IDEAS} if args.no_build
                 else build_ideas(target_dir))
    if args.build_only:
        return
    python = None if args.no_python else python_venv()
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mlops-bench."))
    log = open(work / "bench.log", "w")
    say(f"bench: logs in {work}")
    shares = CpuShares()
    try:
        ca = make_certificates(work)
        moto = subprocess.Popen([str(ROOT / ".venv/bin/python"), str(ROOT / "bench/moto-tls.py"),
                                 str(work / "cert.pem"), str(work / "key.pem")],
                                stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        CHILDREN.append(moto)
        ports = read_ports(moto, "moto")
        plain = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['plain']}", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing", "AWS_REGION": "us-east-1",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        # The world the template describes, made by the test rig (testkit's make-world).
        subprocess.run(["cargo", "build", "--quiet", "-p", "testkit", "--bin", "make-world"], cwd=ROOT, check=True)
        created = subprocess.run([str(target_dir / "debug/make-world")], env={**os.environ, **plain}, cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout
        config = dict(line.split("=", 1) for line in created.splitlines() if "=" in line)
        seed(plain["AWS_ENDPOINT_URL"], config)
        model = tls_model_stub(work)
        model_url = f"https://127.0.0.1:{model.server_address[1]}"
        runtime = Runtime(release / "runtime-api", log)
        env = {
            "PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": runtime.address, "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_LOG_FORMAT": "JSON", **plain, **config,
            "AWS_ENDPOINT_URL": f"https://127.0.0.1:{ports['tls']}",
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url,
            "APPROVAL_BASE_URL": "https://api.example.com/approvals",
            "MLOPS_BENCH_CA": str(ca), "MLOPS_BENCH_TLS_URL": model_url + "/invocations",
        }
        launchers = {mb: Launcher(release / "runtime-api", shares.group(mb), log) for mb in SIZES + [None]}
        templ = template_memory()
        all_events = events(config)
        report = {
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "kernel": platform.release(),
                        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()},
            "build": {"profile": "release (opt-level s, fat LTO, 1 codegen unit, stripped), features shared/bench-trust",
                      "arch": platform.machine()},
            "cpuShare": shares.describe(),
            "sizes": [size_key(mb) for mb in SIZES] + ["full"],
            "templateMb": templ,
            "spawns": args.spawns, "warm": args.warm,
            "functions": {},
        }
        names = [FLOOR, TLS_FLOOR] + [n for n in FUNCTIONS if not args.only or n in args.only]
        for name in names:
            say(f"bench: {name}: {args.spawns} cold starts and {args.warm} warm invocations at each of "
                f"{', '.join(report['sizes'])}, and its own start at full speed")
            binary = release / name
            if not binary.exists():
                raise SystemExit(f"bench: {binary} is missing; run without --no-build")
            # The TLS floor has no event to refuse: every invocation makes its call.
            result = measure(name, [str(binary)], env, all_events[name], runtime, launchers, SIZES + [None],
                             args.spawns, args.warm, name != TLS_FLOOR)
            result["binaryMb"] = binary.stat().st_size / 2**20
            result["zipMb"] = zip_size(binary) / 2**20
            report["functions"][name] = result
        if python:
            py_sizes = sorted({128, templ["invoke-endpoint"]}) + [None]
            say(f"bench: {PYTHON}: {args.python_spawns} cold starts and {args.warm} warm invocations at "
                f"{', '.join(size_key(m) for m in py_sizes)}")
            bundle = work / "python-ca.pem"
            import certifi
            bundle.write_text(pathlib.Path(certifi.where()).read_text() + ca.read_text())
            py_env = {**env, "AWS_CA_BUNDLE": str(bundle), "PYTHONDONTWRITEBYTECODE": "1"}
            report["functions"][PYTHON] = measure(
                PYTHON, [str(python), "-m", "awslambdaric", "app.handler"], py_env, all_events[PYTHON], runtime,
                launchers, py_sizes, args.python_spawns, args.warm, False, cwd=ROOT / "bench/python-invoke-endpoint")
        compares = [(label, str(folder), IDEAS[label]["what"]) for label, folder in ideas.items()]
        compares += [(*spec.split("=", 1), "") for spec in args.compare]
        for label, folder, what in compares:
            report.setdefault("variants", {})[label] = variant = {"what": what, "functions": {}}
            for name in [FLOOR, TLS_FLOOR] + FUNCTIONS:
                binary = pathlib.Path(folder) / name
                if binary.exists():
                    say(f"bench: {name} [{label}]: at 128 MB and full speed")
                    result = measure(name, [str(binary)], env, all_events[name], runtime, launchers, [128, None],
                                     args.spawns, args.warm, name != TLS_FLOOR)
                    result["binaryMb"] = binary.stat().st_size / 2**20
                    result["zipMb"] = zip_size(binary) / 2**20
                    variant["functions"][name] = result
        model.shutdown()
        if not args.only:
            report["cost"] = costs(report)
        if args.tls_study:
            report["tls"] = tls_study(release / "tls-probe", args.spawns, work)
        report["invokeEndpointOverhead"] = overhead() if args.overhead else None
        report["criterion"] = criterion(target_dir) if args.criterion else None
        if not args.only:
            report["targets"] = check_targets(report)
    finally:
        stop_children()
        shares.close()
        log.close()
    out.write_text(json.dumps(report, indent=2) + "\n")
    if not args.only:
        table(report)
    say(f"\nbench: JSON in {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
