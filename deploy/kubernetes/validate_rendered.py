#!/usr/bin/env python3
"""Checks one rendered overlay (`kubectl kustomize` output) beyond what kubernetes-validate can.

    validate_rendered.py RENDERED.yaml BUILTIN_OUT.yaml

- Custom resources (kinds with a schema in schemas/, e.g. the ServiceMonitor) are validated
  against their CRD's openAPIV3Schema, strictly: a field the schema lacks is an error, as
  `kubectl apply --validate=strict` makes it. Every other object is written to BUILTIN_OUT for
  kubernetes-validate, which knows the built-in kinds and warns about any other.
- Each ServiceMonitor must select a Service of the render, by a port that Service has.
- Each Deployment must hold together with its settings: the grace period covers the preStop
  sleep plus SHUTDOWN_DRAIN_SECS, the drain outlasts SHUTDOWN_DELAY_SECS + REQUEST_DEADLINE_MS, LISTEN_ADDR is the
  container's port, and the service would not refuse to start (src/config.rs,
  Config::startup_refusal).

Prints one line per problem and exits 1 if there is any. Run by ./check, in its venv (PyYAML
and jsonschema).
"""
import json
import pathlib
import sys

import jsonschema
import yaml

SCHEMAS = pathlib.Path(__file__).resolve().parent / "schemas"
# Defaults of the settings these checks read (src/config.rs).
DEFAULTS = {
    "SHUTDOWN_DELAY_SECS": "5",
    "SHUTDOWN_DRAIN_SECS": "25",
    "REQUEST_DEADLINE_MS": "15000",
    "AUTH_MODE": "passthrough",
}


def strict(schema):
    """The schema with unknown fields refused wherever it lists the known ones."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


def custom_schemas():
    """Validators by (apiVersion, lowercase kind), from schemas/<kind>-<group>-<version>.json."""
    validators = {}
    for path in SCHEMAS.glob("*.json"):
        kind, rest = path.stem.split("-", 1)
        group, version = rest.rsplit("-", 1)
        schema = strict(json.loads(path.read_text()))
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[(f"{group}/{version}", kind)] = jsonschema.Draft202012Validator(schema)
    return validators


def name_of(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def check_service_monitor(monitor, objects):
    wanted = monitor["spec"]["selector"].get("matchLabels", {})
    services = [o for o in objects if o["kind"] == "Service"
                and wanted.items() <= o["metadata"].get("labels", {}).items()]
    if not services:
        return [f"{name_of(monitor)} selects no Service of this overlay (matchLabels {wanted})"]
    ports = {port.get("name") for service in services for port in service["spec"]["ports"]}
    return [f"{name_of(monitor)} scrapes port {endpoint.get('port')!r}, which its Services lack ({sorted(ports)})"
            for endpoint in monitor["spec"]["endpoints"] if endpoint.get("port") not in ports]


def check_deployment(deployment, objects):
    problems = []
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"]:
        where = f"{name_of(deployment)} container {container['name']}"
        settings = dict(DEFAULTS)
        for source in container.get("envFrom", []):
            settings.update(config_maps.get(source.get("configMapRef", {}).get("name"), {}))
        env = {var["name"]: var for var in container.get("env", [])}
        settings.update({name: var["value"] for name, var in env.items() if "value" in var})

        drain = int(settings["SHUTDOWN_DRAIN_SECS"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= pre_stop + drain:
            problems.append(f"{where}: terminationGracePeriodSeconds {grace} does not cover the preStop sleep "
                            f"({pre_stop} s) + SHUTDOWN_DRAIN_SECS ({drain} s) with a margin")
        delay = int(settings["SHUTDOWN_DELAY_SECS"])
        if drain * 1000 <= delay * 1000 + int(settings["REQUEST_DEADLINE_MS"]):
            problems.append(f"{where}: SHUTDOWN_DRAIN_SECS ({drain} s) must outlast SHUTDOWN_DELAY_SECS ({delay} s) "
                            f"+ REQUEST_DEADLINE_MS ({settings['REQUEST_DEADLINE_MS']} ms), or in-flight queries are cut")

        ports = {port["containerPort"] for port in container.get("ports", [])}
        listen = settings.get("LISTEN_ADDR", "127.0.0.1:8000")
        host, _, port = listen.rpartition(":")
        if int(port) not in ports or host.strip("[]") in ("127.0.0.1", "::1", "localhost"):
            problems.append(f"{where}: LISTEN_ADDR {listen} is not the container's port {sorted(ports)} on every interface")

        # Would the service refuse to start? (Config::startup_refusal, for what a pod can hold.)
        demo = "--demo" in container.get("args", [])
        secret_key = "TELNYX_API_KEY" in env and "valueFrom" in env["TELNYX_API_KEY"]
        if settings["AUTH_MODE"] == "jwt":
            missing = [name for name in ("JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE") if name not in settings]
            if not (secret_key or "TELNYX_API_KEY" in settings or demo):
                missing.append("TELNYX_API_KEY")
            if missing:
                problems.append(f"{where}: AUTH_MODE=jwt needs {', '.join(missing)}; the service would refuse to start")
        elif secret_key and not demo and settings.get("ALLOW_ANONYMOUS") != "true" \
                and not env["TELNYX_API_KEY"]["valueFrom"].get("secretKeyRef", {}).get("optional", False):
            problems.append(f"{where}: TELNYX_API_KEY is required on {listen} without AUTH_MODE=jwt or "
                            "ALLOW_ANONYMOUS=true; the service would refuse to start")
    return problems


def main(rendered, builtin_out):
    objects = [obj for obj in yaml.safe_load_all(pathlib.Path(rendered).read_text()) if obj]
    validators = custom_schemas()
    problems, builtin = [], []
    for obj in objects:
        validator = validators.get((obj.get("apiVersion"), str(obj.get("kind")).lower()))
        if validator is None:
            builtin.append(obj)
            continue
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
            path = ".".join(str(part) for part in error.path) or "(top)"
            problems.append(f"{name_of(obj)}: {path}: {error.message}")
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            problems += check_service_monitor(obj, objects)
        elif obj["kind"] == "Deployment":
            problems += check_deployment(obj, objects)
    pathlib.Path(builtin_out).write_text(yaml.safe_dump_all(builtin, sort_keys=False))
    for problem in problems:
        print(f"{rendered}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
