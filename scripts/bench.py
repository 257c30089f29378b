#!/usr/bin/env python3
"""make bench: cold start, memory, size and warm latency of the seven functions,
against a floor (a bare lambda_runtime hello-world) built in the same run, plus
invoke-endpoint's own overhead, the TLS first-call study and the criterion
micro-benchmarks. Prints a table and writes a JSON file (--out).

Everything listens on 127.0.0.1 and is stopped by PID: moto (the AWS calls),
`cargo lambda watch --only-lambda-apis` (the Runtime API), a plain-HTTP model
stub (fixed reply) and a TLS stub with a certificate made for this run.

Figures are ratios to the floor measured in the same run, because the machine
is shared and noisy; absolute milliseconds are for reading, not for gating.
"""
import argparse
import datetime
import http.client
import http.server
import json
import os
import pathlib
import platform
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = ["start-retraining", "check-endpoint", "deploy-endpoint", "request-approval",
             "handle-approval", "record-metadata", "invoke-endpoint"]
FLOOR = "floor"
TARGETS = {"coldRatio": 1.5, "peakRssMb": 20.0, "zipMb": 4.0, "overheadP50Ms": 0.2}
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: {what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: {what} did not listen on 127.0.0.1:{port}")


def background(cmd, log, env=None, cwd=ROOT):
    """A server of ours, in its own process group so that stopping it stops its children."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    CHILDREN.append(proc)
    return proc


def pct(values, q):
    ordered = sorted(values)
    return ordered[round((len(ordered) - 1) * q)]


def summary(values):
    return {"min": min(values), "median": statistics.median(values), "p90": pct(values, 0.9), "n": len(values)}


# ---------------------------------------------------------------- building

def aarch64_std():
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True).stdout.strip()
    return pathlib.Path(sysroot, "lib/rustlib/aarch64-unknown-linux-gnu/lib").is_dir()


def build(target_dir):
    packages = [arg for name in FUNCTIONS + [FLOOR] for arg in ("-p", name)]
    say(f"bench: release build of the seven functions and the floor for the host ({platform.machine()})")
    subprocess.run(["cargo", "lambda", "build", "--release", *packages], cwd=ROOT, check=True)
    arm64 = None
    if aarch64_std():
        say("bench: arm64 build too, for the zip sizes Lambda will see (arm64 binaries cannot run here)")
        subprocess.run(["cargo", "lambda", "build", "--release", "--arm64", *packages,
                        "--lambda-dir", str(target_dir / "lambda-arm64")], cwd=ROOT, check=True)
        arm64 = target_dir / "lambda-arm64"
    else:
        say("bench: no aarch64 standard library here; sizes are for the host build (see README)")
    say("bench: release build of tls-probe")
    subprocess.run(["cargo", "build", "--release", "-p", "tls-probe"], cwd=ROOT, check=True)
    return target_dir / "lambda", arm64


def zip_size(binary):
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "function.zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.write(binary, "bootstrap")
        return path.stat().st_size


# ---------------------------------------------------------------- stubs

class Stub(http.server.BaseHTTPRequestHandler):
    """A SageMaker Runtime stand-in with a fixed reply, answered in one write
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
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


def tls_stub(folder):
    ca = make_certificates(folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return serve(server), ca


# ---------------------------------------------------------------- the functions

def events(env):
    """Per function: the event of a real invocation (its AWS calls answered by
    moto or the model stub) and one refused before any AWS call."""
    load = lambda name: json.loads((ROOT / "events" / name).read_text())
    put = load("start-retraining/put.json")
    for record in put["Records"]:
        record["s3"]["bucket"]["name"] = env["DATA_BUCKET"]
    get = load("handle-approval/get.json")
    bad_get = json.loads(json.dumps(get))
    bad_get["rawPath"] = "/approvals/not-an-id"
    bad_get["pathParameters"] = {"id": "not-an-id"}
    deploy = load("deploy-endpoint/create.json")
    return {
        "start-retraining": (put, {}),
        "check-endpoint": (load("check-endpoint/input.json"), {}),
        "deploy-endpoint": (deploy, {}),
        "request-approval": (load("request-approval/input.json"), {}),
        "handle-approval": (get, bad_get),
        "record-metadata": (load("record-metadata/started.json"), {}),
        "invoke-endpoint": (load("invoke-endpoint/predict.json"), load("invoke-endpoint/bad-row.json")),
        FLOOR: ({"hello": "world"}, {"hello": "world"}),
    }


class Runtime:
    """cargo lambda watch in its emulator-only mode; the bench starts the binaries."""

    def __init__(self, log):
        self.port = free_port()
        self.proc = background(["cargo", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1",
                                "-P", str(self.port)], log)
        wait_for_port(self.port, self.proc, "cargo lambda watch")
        self.api = f"http://127.0.0.1:{self.port}/.rt"

    def connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    @staticmethod
    def invoke(conn, payload):
        conn.request("POST", "/2015-03-31/functions/_/invocations", body=payload,
                     headers={"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()


def vm_hwm_kb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def spawn(binary, env, log):
    return subprocess.Popen([str(binary)], env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cold_samples(runtime, binary, env, payload, spawns, log):
    """Process spawn → first invocation answered, `spawns` times, a new process each time."""
    samples, answer = [], None
    for _ in range(spawns):
        conn = runtime.connection()
        start = time.perf_counter()
        proc = spawn(binary, env, log)
        status, body = runtime.invoke(conn, payload)
        samples.append((time.perf_counter() - start) * 1e3)
        answer = (status, body)
        stop(proc)
        conn.close()
    return samples, answer


def warm_samples(runtime, binary, env, payload, count, log):
    conn = runtime.connection()
    proc = spawn(binary, env, log)
    runtime.invoke(conn, payload)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        runtime.invoke(conn, payload)
        samples.append((time.perf_counter() - start) * 1e3)
    rss = vm_hwm_kb(proc.pid)
    stop(proc)
    conn.close()
    return samples, rss


def answered_well(status, body):
    """The real invocation must have done its work, or the figure means nothing."""
    text = body.decode(errors="replace")
    if status != 200:
        return False, f"HTTP {status}"
    try:
        value = json.loads(text)
    except ValueError:
        return False, text[:200]
    if isinstance(value, dict) and "errorType" in value:
        return False, f"{value['errorType']}: {value.get('errorMessage', '')[:200]}"
    if isinstance(value, dict) and "statusCode" in value and value["statusCode"] >= 500:
        return False, f"statusCode {value['statusCode']}"
    return True, text[:120]


def measure(name, binary, env, events_, runtime, spawns, warm, log):
    real, no_aws = events_
    real_payload, no_aws_payload = json.dumps(real).encode(), json.dumps(no_aws).encode()
    cold, (status, body) = cold_samples(runtime, binary, env, real_payload, spawns, log)
    ok, detail = answered_well(status, body)
    if not ok:
        raise SystemExit(f"bench: {name}'s real invocation failed ({detail}); see the log")
    cold_no_aws, _ = cold_samples(runtime, binary, env, no_aws_payload, spawns, log)
    warm_ms, rss_kb = warm_samples(runtime, binary, env, real_payload, warm, log)
    size = binary.stat().st_size
    return {
        "coldMs": summary(cold),
        "coldNoAwsMs": summary(cold_no_aws),
        "warmMs": {"p50": pct(warm_ms, 0.5), "p99": pct(warm_ms, 0.99), "n": len(warm_ms)},
        "peakRssMb": rss_kb / 1024 if rss_kb else None,
        "binaryMb": size / 2**20,
        "zipMb": zip_size(binary) / 2**20,
        "answer": detail,
    }


# ---------------------------------------------------------------- TLS and the hot path

def tls_study(probe, spawns, folder):
    server, ca = tls_stub(folder)
    endpoint = f"https://127.0.0.1:{server.server_address[1]}"
    study = {"endpoint": "local TLS stub, self-signed CA trusted alongside the system roots"}
    try:
        for crypto in ("aws-lc", "ring"):
            once = [json.loads(subprocess.run([str(probe), "once", crypto], capture_output=True, text=True,
                                              check=True).stdout) for _ in range(spawns)]
            study[f"{crypto} start-up"] = {
                key: statistics.median([o[key] for o in once])
                for key in ("loadRootsMs", "firstRandomMs", "secondRandomMs", "firstKeyShareMs",
                            "firstConfigMs")
            }
            study[f"{crypto} start-up"]["keyExchangeGroup"] = once[0]["keyExchangeGroup"]
            for connect in ("init", "first-call"):
                runs = []
                for _ in range(spawns):
                    out = subprocess.run([str(probe), "path", crypto, connect, endpoint, str(ca)],
                                         capture_output=True, text=True)
                    if out.returncode != 0:
                        raise SystemExit(f"bench: tls-probe failed: {out.stderr.strip()}")
                    runs.append(json.loads(out.stdout))
                if runs[0]["answer"] != Stub.reply.decode():
                    raise SystemExit(f"bench: the TLS stub answered {runs[0]['answer']!r}")
                study[f"{crypto}, connect at {connect}"] = {
                    key: statistics.median([r[key] for r in runs])
                    for key in ("initMs", "firstCallMs", "secondCallMs", "coldPathMs")
                }
    finally:
        server.shutdown()
    paths = {k: v["coldPathMs"] for k, v in study.items() if isinstance(v, dict) and "coldPathMs" in v}
    study["smallestColdPath"] = min(paths, key=paths.get)
    return study


def overhead():
    say("bench: invoke-endpoint's own overhead (cargo bench --bench overhead, model stubbed in process)")
    out = subprocess.run(["cargo", "bench", "-q", "-p", "invoke-endpoint", "--bench", "overhead", "--", "20000"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench: the overhead bench failed:\n{out.stderr}")
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def criterion(target_dir):
    """Runs the micro-benchmarks, then reads criterion's own estimates (median, ns)
    from target/criterion/<id>/new/, rather than scraping its terminal output."""
    say("bench: criterion micro-benchmarks (cargo bench --bench hot_path)")
    out = subprocess.run(["cargo", "bench", "-q", "-p", "invoke-endpoint", "--bench", "hot_path", "--",
                          "--warm-up-time", "1", "--measurement-time", "2"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench: criterion failed:\n{out.stderr}")
    results = {}
    for meta in sorted((target_dir / "criterion").rglob("new/benchmark.json")):
        estimates = json.loads((meta.parent / "estimates.json").read_text())
        ns = estimates["median"]["point_estimate"]
        results[json.loads(meta.read_text())["full_id"]] = f"{ns / 1000:.3f} µs" if ns >= 1000 else f"{ns:.1f} ns"
    if not results:
        raise SystemExit("bench: criterion ran but wrote no estimates")
    return results


# ---------------------------------------------------------------- report

def table(report):
    floor = report["functions"][FLOOR]
    rows = [("function", "cold med", "×floor", "cold p90", "no-AWS med", "×floor", "warm p50", "warm p99",
             "RSS MB", "bin MB", "zip MB")]
    for name, f in report["functions"].items():
        rows.append((name,
                     f"{f['coldMs']['median']:.2f}", f"{f['coldRatio']:.2f}", f"{f['coldMs']['p90']:.2f}",
                     f"{f['coldNoAwsMs']['median']:.2f}", f"{f['coldNoAwsRatio']:.2f}",
                     f"{f['warmMs']['p50']:.3f}", f"{f['warmMs']['p99']:.3f}",
                     f"{f['peakRssMb']:.1f}", f"{f['binaryMb']:.2f}", f"{f['zipMb']:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    say("\ncold = spawn → first invocation answered (ms, %d spawns); warm over %d invocations (ms)"
        % (floor["coldMs"]["n"], floor["warmMs"]["n"]))
    say("\n".join(lines))
    o = report["invokeEndpointOverhead"]
    say(f"\ninvoke-endpoint overhead without the model: p50 {o['p50Us']:.1f} µs, p99 {o['p99Us']:.1f} µs, "
        f"{o['requestsPerSecondOneCore']:.0f} requests/s on one core ({o['requests']} requests)")
    say("\nTLS first call (medians, ms):")
    for key, value in report["tls"].items():
        if isinstance(value, dict):
            say(f"  {key}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in value.items()))
    say(f"  smallest cold path: {report['tls']['smallestColdPath']}")
    if report.get("criterion"):
        say("\ncriterion (median estimate):")
        for key, value in report["criterion"].items():
            say(f"  {key}: {value}")
    say("\ntargets:")
    for line in report["targets"]:
        say(f"  {line}")


def check_targets(report):
    lines = []
    for name, f in report["functions"].items():
        if name == FLOOR:
            continue
        for label, value, limit, unit in (("cold start (real call)", f["coldRatio"], TARGETS["coldRatio"], "× floor"),
                                          ("cold start (no AWS call)", f["coldNoAwsRatio"], TARGETS["coldRatio"], "× floor"),
                                          ("peak RSS", f["peakRssMb"], TARGETS["peakRssMb"], "MB"),
                                          ("zip", f["zipMb"], TARGETS["zipMb"], "MB")):
            verdict = "met" if value <= limit else f"MISSED by {value - limit:.2f} {unit}"
            lines.append(f"{name}: {label} {value:.2f} {unit} (target ≤ {limit}) {verdict}")
    p50_ms = report["invokeEndpointOverhead"]["p50Us"] / 1000
    lines.append(f"invoke-endpoint overhead p50 {p50_ms:.4f} ms (target < {TARGETS['overheadP50Ms']}) "
                 + ("met" if p50_ms < TARGETS["overheadP50Ms"] else "MISSED"))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=20, help="cold starts per function and kind (at least 20)")
    parser.add_argument("--warm", type=int, default=1000, help="warm invocations per function (at least 1000)")
    parser.add_argument("--out", default="target/bench/bench.json", help="where the JSON goes")
    parser.add_argument("--no-build", action="store_true", help="reuse the release binaries already built")
    parser.add_argument("--no-criterion", action="store_true", help="skip the criterion micro-benchmarks")
    args = parser.parse_args()
    if args.spawns < 20 or args.warm < 1000:
        parser.error("at least 20 spawns and 1000 warm invocations")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    target_dir = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if args.no_build:
        lambda_dir, arm64_dir = target_dir / "lambda", None
    else:
        lambda_dir, arm64_dir = build(target_dir)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mlops-bench."))
    log = open(work / "bench.log", "w")
    say(f"bench: logs in {work}")
    try:
        moto_port = free_port()
        moto = background([str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)], log)
        wait_for_port(moto_port, moto, "moto_server")
        aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing", "AWS_REGION": "us-east-1",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        # The world the template describes, made by the test rig (testkit's make-world).
        subprocess.run(["cargo", "build", "--quiet", "-p", "testkit", "--bin", "make-world"], cwd=ROOT, check=True)
        created = subprocess.run([str(target_dir / "debug/make-world")],
                                 env={**os.environ, **aws}, cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout
        config = dict(line.split("=", 1) for line in created.splitlines() if "=" in line)
        # deploy-endpoint's event names a model the pipeline would have made.
        boto3.client("sagemaker", region_name="us-east-1", endpoint_url=aws["AWS_ENDPOINT_URL"],
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_model(
            ModelName=json.loads((ROOT / "events/deploy-endpoint/create.json").read_text())["modelName"],
            ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/iris-model:bench"})
        model = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub))
        runtime = Runtime(log)
        base_env = {
            "PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": runtime.api, "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_LOG_FORMAT": "JSON", **aws, **config,
            "APPROVAL_BASE_URL": "https://api.example.com/approvals",
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{model.server_address[1]}",
        }
        all_events = events(config)
        report = {
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "kernel": platform.release(),
                        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()},
            "build": {"profile": "release (opt-level s, fat LTO, 1 codegen unit, stripped)",
                      "arch": platform.machine(), "arm64Built": arm64_dir is not None},
            "functions": {},
        }
        for name in [FLOOR] + FUNCTIONS:
            say(f"bench: {name}: {args.spawns}+{args.spawns} cold starts, {args.warm} warm invocations")
            binary = lambda_dir / name / "bootstrap"
            if not binary.exists():
                raise SystemExit(f"bench: {binary} is missing; run without --no-build")
            report["functions"][name] = measure(name, binary, base_env, all_events[name], runtime,
                                                args.spawns, args.warm, log)
            if arm64_dir:
                report["functions"][name]["zipMb"] = zip_size(arm64_dir / name / "bootstrap") / 2**20
        floor = report["functions"][FLOOR]
        for f in report["functions"].values():
            f["coldRatio"] = f["coldMs"]["median"] / floor["coldMs"]["median"]
            f["coldNoAwsRatio"] = f["coldNoAwsMs"]["median"] / floor["coldNoAwsMs"]["median"]
        model.shutdown()
        say("bench: TLS first call (tls-probe against a local TLS stub)")
        report["tls"] = tls_study(target_dir / "release/tls-probe", args.spawns, work)
        report["invokeEndpointOverhead"] = overhead()
        report["criterion"] = None if args.no_criterion else criterion(target_dir)
        report["targets"] = check_targets(report)
    finally:
        stop_children()
        log.close()
    out.write_text(json.dumps(report, indent=2) + "\n")
    table(report)
    say(f"\nbench: JSON in {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
