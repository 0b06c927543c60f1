#!/usr/bin/python3
"""Structure checks of the deployment files: docker/k8s/*, docker/compose.yaml, docker/Dockerfile.

Static only (no cluster, no container engine): the YAML parses, the objects reference each other
consistently (selectors, Service names, ports, the trainer's targets) and the contracts of
docker/README.md hold (gRPC health probes, read-only dataset, non-root, resources).
Exits 77 (ctest SKIP_RETURN_CODE) when PyYAML (Debian: python3-yaml) is missing.
"""
import os
import re
import sys
import unittest

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML is missing (apt-get install python3-yaml)", file=sys.stderr)
    sys.exit(77)

DOCKER_DIR = os.path.dirname(os.path.abspath(__file__))
K8S_DIR = os.path.join(DOCKER_DIR, "k8s")
GRPC_PORT = 50051
HTTP_PORT = 8080


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_dockerfile():
    """The Dockerfile as (stage name, instruction, argument) tuples, continuation lines joined."""
    with open(os.path.join(DOCKER_DIR, "Dockerfile"), encoding="utf-8") as f:
        text = re.sub(r"\\\n(\s*#.*\n)*", " ", f.read())
    out, stage = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arg.strip(), re.IGNORECASE)
            stage = m.group(2) or m.group(1)
        out.append((stage, instr, arg.strip()))
    return out


def is_subset(small, big):
    return bool(small) and all(big.get(k) == v for k, v in small.items())


def containers(pod_spec):
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kust = load_yaml_docs(os.path.join(K8S_DIR, "kustomization.yaml"))[0]
        cls.kustomization = kust
        cls.objects = []
        for res in kust["resources"]:
            cls.objects += load_yaml_docs(os.path.join(K8S_DIR, res))
        by_kind = {}
        for o in cls.objects:
            by_kind.setdefault(o["kind"], []).append(o)
        cls.by_kind = by_kind
        cls.sts = by_kind["StatefulSet"][0]
        cls.service = by_kind["Service"][0]
        cls.job = by_kind["Job"][0]
        cls.server = cls.sts["spec"]["template"]["spec"]["containers"][0]

    def test_kustomization_lists_every_manifest(self):
        on_disk = {f for f in os.listdir(K8S_DIR) if f.endswith(".yaml") and f != "kustomization.yaml"}
        self.assertEqual(set(self.kustomization["resources"]), on_disk)
        self.assertEqual(self.kustomization["kind"], "Kustomization")

    def test_every_object_is_well_formed(self):
        for o in self.objects:
            self.assertIn("apiVersion", o)
            self.assertRegex(o["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        kinds = sorted(o["kind"] for o in self.objects)
        self.assertEqual(kinds, ["Job", "Namespace", "PersistentVolumeClaim", "Service", "StatefulSet"])

    def test_headless_service_selects_the_server_pods(self):
        spec = self.service["spec"]
        self.assertEqual(spec["clusterIP"], "None")
        # DNS fan-in must not hand out pods that cannot serve yet (or are draining).
        self.assertIs(spec["publishNotReadyAddresses"], False)
        self.assertEqual(self.sts["spec"]["serviceName"], self.service["metadata"]["name"])
        pod_labels = self.sts["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(is_subset(spec["selector"], pod_labels))
        self.assertTrue(is_subset(self.sts["spec"]["selector"]["matchLabels"], pod_labels))
        self.assertEqual([(p["name"], p["port"]) for p in spec["ports"]], [("grpc", GRPC_PORT), ("metrics", HTTP_PORT)])
        self.assertIn(spec["ports"][0]["targetPort"], ("grpc", GRPC_PORT))
        self.assertIn(spec["ports"][1]["targetPort"], ("metrics", HTTP_PORT))
        job_labels = self.job["spec"]["template"]["metadata"]["labels"]
        self.assertFalse(is_subset(spec["selector"], job_labels), "the Service must not select trainer pods")

    def test_server_listens_on_its_container_port(self):
        self.assertEqual([(p["name"], p["containerPort"]) for p in self.server["ports"]],
                         [("grpc", GRPC_PORT), ("metrics", HTTP_PORT)])
        self.assertIn(f"--listen=0.0.0.0:{GRPC_PORT}", self.server["args"])
        self.assertIn(f"--http_listen=0.0.0.0:{HTTP_PORT}", self.server["args"])

    def test_metrics_port_has_the_prometheus_scrape_annotations(self):
        annotations = self.sts["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(annotations["prometheus.io/port"], str(HTTP_PORT))
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")
        # Annotation values are strings: an unquoted true or 8080 would be rejected by the API server.
        for value in annotations.values():
            self.assertIsInstance(value, str)

    def test_probes_use_grpc_health_on_the_container_port(self):
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.server[probe]["grpc"]["port"], GRPC_PORT, probe)
            self.assertNotIn("service", self.server[probe]["grpc"], "the server reports overall health only")

    def test_dataset_is_mounted_read_only(self):
        pod = self.sts["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m for m in self.server["volumeMounts"]}
        dataset = [a.split("=", 2)[2] for a in self.server["args"] if a.startswith("--dataset=")]
        self.assertEqual(dataset, ["/data"])
        self.assertEqual(mounts["dataset"]["mountPath"], "/data")
        self.assertIs(mounts["dataset"]["readOnly"], True)
        self.assertIs(volumes["dataset"]["persistentVolumeClaim"]["readOnly"], True)
        claim = volumes["dataset"]["persistentVolumeClaim"]["claimName"]
        pvc = self.by_kind["PersistentVolumeClaim"][0]
        self.assertEqual(pvc["metadata"]["name"], claim)
        self.assertEqual(pvc["spec"]["accessModes"], ["ReadOnlyMany"])

    def test_pods_run_non_root_with_a_read_only_root(self):
        uid = dockerfile_user()
        for workload in (self.sts, self.job):
            pod = workload["spec"]["template"]["spec"]
            self.assertIs(pod["securityContext"]["runAsNonRoot"], True)
            self.assertEqual(pod["securityContext"]["runAsUser"], uid)
            self.assertIs(pod["automountServiceAccountToken"], False)
            for c in containers(pod):
                self.assertIs(c["securityContext"]["readOnlyRootFilesystem"], True, c["name"])
                self.assertIs(c["securityContext"]["allowPrivilegeEscalation"], False, c["name"])

    def test_cache_dir_is_a_writable_empty_dir(self):
        pod = self.sts["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in self.server["volumeMounts"]}
        cache = mounts[dockerfile_env()["XDG_CACHE_HOME"]]
        self.assertIn("emptyDir", volumes[cache["name"]])
        self.assertFalse(cache.get("readOnly", False))

    def test_every_container_has_cpu_and_memory_requests_and_limits(self):
        for workload in (self.sts, self.job):
            for c in containers(workload["spec"]["template"]["spec"]):
                for kind in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        self.assertIn(res, c["resources"][kind], f"{c['name']} {kind}")

    def test_server_threads_follow_the_cpu_limit(self):
        self.assertIn("--threads=$(IMAGEFEED_THREADS)", self.server["args"])
        env = {e["name"]: e for e in self.server["env"]}
        self.assertEqual(env["IMAGEFEED_THREADS"]["valueFrom"]["resourceFieldRef"]["resource"], "limits.cpu")

    def test_trainer_fans_in_over_the_headless_service_by_dns(self):
        # One DNS target, not a hand-maintained list of pods: the clients resolve the headless Service to
        # every ready server pod at each stream start, so scaling the StatefulSet needs no edit here.
        svc_name = self.service["metadata"]["name"]
        pod = self.job["spec"]["template"]["spec"]
        self.assertEqual(pod["restartPolicy"], "Never")
        for c in containers(pod):
            env = {e["name"]: e for e in c.get("env", [])}
            names = [e["name"] for e in c.get("env", [])]
            # The namespace comes from the downward API (kustomize may move the objects), and is defined
            # before the variable that expands it.
            self.assertEqual(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace")
            self.assertLess(names.index("POD_NAMESPACE"), names.index("IMAGEFEED_SERVERS"))
            target = env["IMAGEFEED_SERVERS"]["value"]
            self.assertEqual(target, f"dns:///{svc_name}.$(POD_NAMESPACE).svc.cluster.local:{GRPC_PORT}", c["name"])
            self.assertNotIn(",", target)
            self.assertNotIn(self.sts["metadata"]["name"] + "-0", target)
        init = pod["initContainers"][0]
        self.assertIn('imagefeed health --server="$IMAGEFEED_SERVERS"', init["command"][-1])
        trainer = pod["containers"][0]
        self.assertIn("--servers=$(IMAGEFEED_SERVERS)", trainer["args"])
        self.assertEqual(int(trainer["resources"]["limits"]["nvidia.com/gpu"]), 1)

    def test_images_are_the_ones_built_from_the_dockerfile(self):
        names = {i["name"] for i in self.kustomization["images"]}
        for workload in (self.sts, self.job):
            for c in containers(workload["spec"]["template"]["spec"]):
                self.assertIn(c["image"].split(":")[0], names)
        self.assertEqual(self.server["image"].split(":")[0], "imagefeed")
        self.assertEqual(self.job["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[0],
                         "imagefeed-trainer")


class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.compose = load_yaml_docs(os.path.join(DOCKER_DIR, "compose.yaml"))[0]
        cls.server = cls.compose["services"]["imagefeed"]
        cls.trainer = cls.compose["services"]["trainer"]

    def test_services_build_stages_of_the_dockerfile(self):
        stages = {s for s, instr, _ in load_dockerfile() if instr == "FROM"}
        for svc, target in ((self.server, "server"), (self.trainer, "trainer")):
            self.assertEqual(svc["build"]["dockerfile"], "docker/Dockerfile")
            self.assertEqual(os.path.normpath(os.path.join(DOCKER_DIR, svc["build"]["context"])),
                             os.path.dirname(DOCKER_DIR))
            self.assertEqual(svc["build"]["target"], target)
            self.assertIn(target, stages)

    def test_server_listens_on_all_interfaces_and_serves_the_mount(self):
        self.assertIn(f"--listen=0.0.0.0:{GRPC_PORT}", self.server["command"])
        self.assertIn("--dataset=imagenet=/data", self.server["command"])

    def test_http_endpoint_is_published_on_localhost(self):
        self.assertIn(f"--http_listen=0.0.0.0:{HTTP_PORT}", self.server["command"])
        self.assertIn(f"127.0.0.1:{HTTP_PORT}:{HTTP_PORT}", self.server["ports"])

    def test_dataset_volume_is_read_only(self):
        data = [v for v in self.server["volumes"] if isinstance(v, dict) and v["target"] == "/data"]
        self.assertEqual(len(data), 1)
        self.assertIs(data[0]["read_only"], True)
        self.assertIs(self.server["read_only"], True)

    def test_cache_dir_is_a_named_volume(self):
        cache = dockerfile_env()["XDG_CACHE_HOME"]
        named = [v.split(":")[0] for v in self.server["volumes"] if isinstance(v, str) and v.endswith(":" + cache)]
        self.assertEqual(len(named), 1, "the writable cache dir of a read-only container")
        self.assertIn(named[0], self.compose["volumes"])

    def test_server_has_a_health_check(self):
        self.assertEqual(self.server["healthcheck"]["test"], ["CMD", "imagefeed-healthcheck"])

    def test_trainer_waits_for_a_healthy_server_and_reserves_a_gpu(self):
        self.assertEqual(self.trainer["depends_on"]["imagefeed"]["condition"], "service_healthy")
        devices = self.trainer["deploy"]["resources"]["reservations"]["devices"]
        self.assertEqual(devices, [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}])
        servers = [a for a in self.trainer["command"] if a.startswith("--servers=")]
        self.assertEqual(servers, [f"--servers=imagefeed:{GRPC_PORT}"])


def dockerfile_env():
    env = {}
    for stage, instr, arg in load_dockerfile():
        if stage == "server" and instr == "ENV":
            env.update(kv.split("=", 1) for kv in arg.split())
    return env


def dockerfile_user():
    users = [arg for stage, instr, arg in load_dockerfile() if stage == "server" and instr == "USER"]
    return int(users[-1].split(":")[0])


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        self.lines = load_dockerfile()
        self.final = self.lines[-1][0]
        self.server = {}
        for stage, instr, arg in self.lines:
            if stage == self.final:
                self.server.setdefault(instr, []).append(arg)

    def test_final_stage_is_the_slim_server(self):
        self.assertEqual(self.final, "server")
        self.assertEqual(self.server["FROM"], ["debian:bookworm-slim AS server"])
        self.assertEqual(self.server["ENTRYPOINT"], ['["imagefeed-server"]'])
        self.assertEqual(self.server["CMD"], [f'["--listen=0.0.0.0:{GRPC_PORT}"]'])
        self.assertEqual(self.server["EXPOSE"], [f"{GRPC_PORT} {HTTP_PORT}"])

    def test_runtime_packages_include_the_http_library(self):
        runs = " ".join(self.server["RUN"])
        self.assertIn("libcpp-httplib0.11", runs)
        self.assertIn("libbrotli1", runs)

    def test_runs_as_a_numeric_non_root_user(self):
        self.assertGreater(dockerfile_user(), 0)
        self.assertRegex(self.server["USER"][-1], r"^\d+(:\d+)?$", "numeric, so runAsNonRoot can verify it")

    def test_health_check_and_cli_are_in_the_image(self):
        self.assertEqual(len(self.server["HEALTHCHECK"]), 1)
        self.assertIn("imagefeed-healthcheck", self.server["HEALTHCHECK"][0])
        copied = " ".join(self.server["COPY"])
        self.assertIn("build/bin/imagefeed-server", copied)
        self.assertIn("build/bin/imagefeed ", copied)
        self.assertTrue(os.access(os.path.join(DOCKER_DIR, "healthcheck.sh"), os.X_OK))

    def test_build_uses_the_project_script_and_skips_tests(self):
        runs = " ".join(arg for _, instr, arg in self.lines if instr == "RUN")
        self.assertIn("./scripts/build.sh", runs)
        self.assertRegex(runs, r"cmake --build build .*--target imagefeed-server imagefeed\b")

    def test_build_context_excludes_host_builds_and_git(self):
        with open(os.path.join(DOCKER_DIR, "Dockerfile.dockerignore"), encoding="utf-8") as f:
            patterns = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        self.assertLessEqual({"build*/", ".git"}, patterns)


if __name__ == "__main__":
    unittest.main(verbosity=2)
